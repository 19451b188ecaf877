"""The token endpoint: the client credentials grant with a federated assertion, validated like Entra.

Checks, in order: tenant, grant type, required parameters, the app registration (AADSTS700016),
the client credential (a jwt-bearer client assertion), the assertion's form (AADSTS50027), a
federated identity credential for its issuer (AADSTS700211), its signature against the issuer's
published keys (AADSTS7000272 / AADSTS700027), its time range (AADSTS700024), its subject (AADSTS700213)
and audience (AADSTS700212) — or, with ``legacy_fic_errors``, AADSTS70021 for any of the three — and the
scope (AADSTS1002012 / AADSTS70011). Then it mints a v1 access token.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any, Mapping, Protocol, Sequence

import jwt

from . import _entra_errors as errors
from ._claims_matching import InvalidExpression, read, satisfied
from ._directory import Directory, FederatedCredential
from ._issuer_keys import IssuerKeys
from ._pki import SigningKey

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Tenants that exist for discovery but can't identify a tenant for an app-only token.
COMMON_TENANTS = frozenset({"common", "organizations", "consumers"})
_ASSERTION_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
_OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
_REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp")


class TokenSettings(Protocol):
    """What the token service reads, per request, from its owner (the Sandbox)."""

    token_lifetime: int
    refresh_in: int | None
    clock_skew: float
    legacy_fic_errors: bool


def access_token_issuer(tenant: str) -> str:
    return f"https://sts.windows.net/{tenant}/"


class TokenService:
    def __init__(
        self, directory: Directory, issuer_keys: IssuerKeys, signing_key: SigningKey, settings: TokenSettings
    ) -> None:
        self._directory = directory
        self._issuer_keys = issuer_keys
        self._signing_key = signing_key
        self._settings = settings

    def issue(self, tenant: str, form: Mapping[str, str]) -> dict[str, Any]:
        """The token response for this request, or EntraError."""
        if tenant.lower() in COMMON_TENANTS:
            raise errors.no_tenant_in_request()
        if not self._directory.has_tenant(tenant):
            raise errors.tenant_not_found(tenant)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise errors.missing_parameter("grant_type")
        if grant_type != "client_credentials":
            raise errors.unsupported_grant_type(grant_type)
        client_id = form.get("client_id")
        if not client_id:
            raise errors.missing_parameter("client_id")
        scope = form.get("scope")
        if not scope:
            raise errors.missing_parameter("scope")
        found = self._directory.find(tenant, client_id)
        if found is None:
            raise errors.application_not_found(client_id, tenant)
        object_id, credentials = found
        if form.get("client_secret"):
            raise errors.invalid_client_secret(client_id)
        assertion = form.get("client_assertion")
        if not assertion:
            raise errors.missing_client_credential()
        assertion_type = form.get("client_assertion_type")
        if not assertion_type:
            raise errors.missing_parameter("client_assertion_type")
        if assertion_type != CLIENT_ASSERTION_TYPE:
            raise errors.unsupported_assertion_type(assertion_type)
        self._validate_assertion(assertion, credentials)
        resource = _resource(scope)
        wants_cp1 = _requests_cp1(form.get("claims"))
        return self._token_response(tenant, client_id, object_id, resource, wants_cp1)

    def verify(self, token: str, *, audience: str | Sequence[str] | None = None) -> dict[str, Any]:
        """The claims of an access token this service issued; raises jwt.InvalidTokenError otherwise."""
        claims: dict[str, Any] = jwt.decode(
            token,
            self._signing_key.public_key(),
            algorithms=["RS256"],
            audience=audience,
            options={
                "verify_aud": audience is not None,
                "require": ["exp", "iat", "nbf", "iss", "aud", "tid"],
            },
        )
        if claims["iss"] != access_token_issuer(str(claims["tid"])):
            raise jwt.InvalidIssuerError(
                f"issuer {claims['iss']!r} is not the sandbox STS of tenant {claims['tid']!r}"
            )
        return claims

    def _validate_assertion(self, assertion: str, credentials: list[FederatedCredential]) -> None:
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise errors.malformed_assertion("") from None
        algorithm = header.get("alg")
        if algorithm not in _ASSERTION_ALGORITHMS:
            raise errors.malformed_assertion(f"The signing algorithm '{algorithm}' is not supported.")
        for name in _REQUIRED_CLAIMS:
            if name not in claims:
                raise errors.malformed_assertion(f"The '{name}' claim is missing.")
        issuer, subject, audiences = claims["iss"], claims["sub"], claims["aud"]
        audiences = [audiences] if isinstance(audiences, str) else audiences
        if not (
            isinstance(issuer, str)
            and isinstance(subject, str)
            and isinstance(audiences, list)
            and all(isinstance(a, str) for a in audiences)
        ):
            raise errors.malformed_assertion("The 'iss', 'sub' and 'aud' claims must be strings.")
        shown_audience = ",".join(audiences)

        # Entra only fetches keys for issuers the app trusts (and only credentials that have propagated).
        now = time.time()
        trusted = [c for c in credentials if c.issuer == issuer and c.in_effect(now)]
        if not trusted:
            raise self._mismatch("issuer", issuer, subject, shown_audience)
        self._verify_signature(assertion, header, issuer)
        self._check_time_range(claims)
        # Then the subject (or a flexible FIC's expression), then the audience: the first field no
        # credential of that issuer matches is the one Entra names.
        by_subject = [c for c in trusted if _subject_matches(c, subject, claims)]
        if not by_subject:
            raise self._mismatch("subject", issuer, subject, shown_audience)
        if not any(c.audience in audiences for c in by_subject):
            raise self._mismatch("audience", issuer, subject, shown_audience)

    def _mismatch(self, field: str, issuer: str, subject: str, audience: str) -> errors.EntraError:
        if self._settings.legacy_fic_errors:
            return errors.no_matching_federated_credential(issuer, subject, audience)
        presented = {"issuer": issuer, "subject": subject, "audience": audience}[field]
        return errors.no_matching_federated_credential_field(field, presented)

    def _verify_signature(self, assertion: str, header: Mapping[str, Any], issuer: str) -> None:
        kid = header.get("kid")
        keys = self._issuer_keys.keys_for(issuer, str(kid) if kid is not None else None)
        for key in keys:
            try:
                jwt.decode(
                    assertion,
                    key.key,
                    algorithms=[str(header["alg"])],
                    options={
                        "verify_exp": False,
                        "verify_nbf": False,
                        "verify_iat": False,
                        "verify_aud": False,
                        "verify_iss": False,
                    },
                )
                return
            except jwt.PyJWTError:
                continue
        raise errors.invalid_signature(issuer)

    def _check_time_range(self, claims: Mapping[str, Any]) -> None:
        now = time.time()
        skew = self._settings.clock_skew
        try:
            expires = float(claims["exp"])
            not_before = float(claims["nbf"]) if "nbf" in claims else None
        except (TypeError, ValueError):
            raise errors.malformed_assertion("The 'exp' and 'nbf' claims must be numbers.") from None
        if now - skew >= expires or (not_before is not None and now + skew < not_before):
            raise errors.assertion_outside_time_range(now, not_before, expires)

    def _token_response(
        self, tenant: str, client_id: str, object_id: str, resource: str, wants_cp1: bool
    ) -> dict[str, Any]:
        graph = resource in GRAPH_RESOURCES or resource == getattr(self._settings, "graph_endpoint", None)
        roles = self._directory.graph_roles(tenant, client_id) if graph else ()
        now = int(time.time())
        lifetime = int(self._settings.token_lifetime)
        claims: dict[str, Any] = {
            "aud": resource,
            "iss": access_token_issuer(tenant),
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "aio": secrets.token_urlsafe(24),
            "appid": client_id,
            "appidacr": "2",
            "idp": access_token_issuer(tenant),
            "idtyp": "app",
            "oid": object_id,
            "rh": secrets.token_urlsafe(24),
            "sub": object_id,
            "tid": tenant,
            "uti": secrets.token_urlsafe(16),
            "ver": "1.0",
        }
        if wants_cp1:
            claims["xms_cc"] = ["CP1"]
        if roles:
            claims["roles"] = list(roles)  # the app roles granted to the app on Microsoft Graph
        response: dict[str, Any] = {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": self._signing_key.sign(claims),
        }
        refresh_in = self._settings.refresh_in
        if refresh_in is not None:
            response["refresh_in"] = int(refresh_in)
        return response


GRAPH_RESOURCES = frozenset({"https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"})


def _subject_matches(credential: FederatedCredential, subject: str, claims: Mapping[str, Any]) -> bool:
    if credential.expression is None:
        return credential.subject == subject
    try:
        return satisfied(read(credential.expression), claims)
    except InvalidExpression:  # refused at create; never trusted
        return False


def _resource(scope: str) -> str:
    """The one resource a client credentials request names as ``{resource}/.default``."""
    resources: list[str] = []
    for item in scope.split():
        if item in _OIDC_SCOPES:
            continue
        if not item.endswith("/.default") or item == "/.default":
            raise errors.invalid_scope_suffix(item)
        resource = item[: -len("/.default")]
        if resource not in resources:
            resources.append(resource)
    if not resources:
        raise errors.invalid_scope_suffix(scope)
    if len(resources) > 1:
        raise errors.invalid_scope(scope)
    return resources[0]


def _requests_cp1(claims_parameter: str | None) -> bool:
    """Whether the ``claims`` parameter declares the CP1 client capability (CAE)."""
    if claims_parameter is None:
        return False
    try:
        claims = json.loads(claims_parameter)
    except ValueError:
        raise errors.invalid_claims_parameter() from None
    if not isinstance(claims, dict):
        raise errors.invalid_claims_parameter()
    access_token = claims.get("access_token")
    capabilities = access_token.get("xms_cc") if isinstance(access_token, dict) else None
    values = capabilities.get("values") if isinstance(capabilities, dict) else None
    return isinstance(values, list) and "CP1" in values
