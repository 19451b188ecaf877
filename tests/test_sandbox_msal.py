"""Real, unmodified MSAL and azure-identity against the sandbox over HTTPS: tokens, rejections, faults.

Every test registers its own app and issues its own assertions: MSAL replays an identical failed
request (same body) for 60 s, and a 5xx for the same client and scope for a few seconds.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable

import jwt
import msal
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientAssertionCredential
from cryptography.hazmat.primitives.asymmetric import rsa
from msal.exceptions import MsalServiceError

from azure_wif_credential.sandbox import App, CaPinnedHttpClient, Sandbox

STORAGE = "https://storage.azure.com/.default"


@pytest.fixture
def http_client(sandbox: Sandbox) -> Iterator[CaPinnedHttpClient]:
    with sandbox.http_client() as client:
        yield client


def msal_app(
    sandbox: Sandbox, http_client: CaPinnedHttpClient, app: App, assertion: Callable[[], str], **kwargs: Any
) -> msal.ConfidentialClientApplication:
    kwargs.setdefault("instance_discovery", False)
    return msal.ConfidentialClientApplication(
        app.client_id,
        authority=f"{sandbox.authority}/{app.tenant_id}",
        client_credential={"client_assertion": assertion},
        http_client=http_client,
        **kwargs,
    )


def identity_credential(
    sandbox: Sandbox, app: App, assertion: Callable[[], str]
) -> ClientAssertionCredential:
    return ClientAssertionCredential(
        app.tenant_id,
        app.client_id,
        assertion,
        authority=sandbox.authority,
        disable_instance_discovery=True,
        connection_verify=sandbox.ca_file,
        retry_total=0,
    )


def verify_with_published_keys(sandbox: Sandbox, tenant_id: str, token: str, audience: str) -> dict[str, Any]:
    """Check a token the way a resource does: keys from the tenant's discovery document, over HTTPS."""
    with requests.Session() as http:
        document = http.get(
            f"{sandbox.authority}/{tenant_id}/v2.0/.well-known/openid-configuration",
            verify=sandbox.ca_file,
            timeout=10,
        ).json()
        jwks = jwt.PyJWKSet.from_dict(
            http.get(document["jwks_uri"], verify=sandbox.ca_file, timeout=10).json()
        )
    key = jwks[jwt.get_unverified_header(token)["kid"]]
    claims: dict[str, Any] = jwt.decode(token, key.key, algorithms=["RS256"], audience=audience)
    return claims


# --- tokens --------------------------------------------------------------------------------------------


def test_msal_confidential_client_gets_a_token_that_verifies_against_the_published_jwks(
    sandbox: Sandbox, http_client: CaPinnedHttpClient
) -> None:
    app = sandbox.register_app(subject="system:serviceaccount:default:web")
    calls: list[str] = []

    def assertion() -> str:
        calls.append("called")
        return sandbox.issue_assertion(subject="system:serviceaccount:default:web")

    result = msal_app(sandbox, http_client, app, assertion).acquire_token_for_client([STORAGE])

    assert "access_token" in result, result.get("error_description")
    assert result["token_type"] == "Bearer"
    assert calls == ["called"]
    assert sandbox.request_count("openid-configuration") == 1  # MSAL's tenant discovery
    assert sandbox.request_count("token") == 1
    claims = verify_with_published_keys(
        sandbox, app.tenant_id, result["access_token"], "https://storage.azure.com"
    )
    assert claims["iss"] == f"https://sts.windows.net/{app.tenant_id}/"
    assert (claims["tid"], claims["appid"], claims["idtyp"]) == (app.tenant_id, app.client_id, "app")
    assert claims["oid"] == claims["sub"] == app.object_id
    assert claims["exp"] - claims["iat"] == 3600


def test_msal_uses_the_sandbox_instance_discovery_when_pointed_at_it(
    sandbox: Sandbox, http_client: CaPinnedHttpClient
) -> None:
    app = sandbox.register_app()
    discovery = f"{sandbox.authority}/common/discovery/instance"

    result = msal_app(
        sandbox, http_client, app, sandbox.issue_assertion, instance_discovery=discovery
    ).acquire_token_for_client([STORAGE])

    assert "access_token" in result, result.get("error_description")
    assert sandbox.request_count("instance-discovery") == 1


def test_azure_identity_client_assertion_credential_gets_a_token(sandbox: Sandbox) -> None:
    app = sandbox.register_app()

    with identity_credential(sandbox, app, sandbox.issue_assertion) as credential:
        info = credential.get_token_info("https://vault.azure.net/.default")

    claims = verify_with_published_keys(sandbox, app.tenant_id, info.token, "https://vault.azure.net")
    assert (claims["tid"], claims["appid"]) == (app.tenant_id, app.client_id)
    # azure-identity stamps its clock before the request, the STS after it: a second may tick between.
    assert claims["exp"] - 1 <= info.expires_on <= claims["exp"]
    assert info.token_type == "Bearer"


def test_refresh_in_reaches_msal_and_azure_identity_as_refresh_on(
    sandbox: Sandbox, http_client: CaPinnedHttpClient
) -> None:
    app = sandbox.register_app()
    sandbox.refresh_in = 1800

    result = msal_app(sandbox, http_client, app, sandbox.issue_assertion).acquire_token_for_client([STORAGE])
    with identity_credential(sandbox, app, sandbox.issue_assertion) as credential:
        info = credential.get_token_info(STORAGE)

    issued_at = sandbox.verify_access_token(result["access_token"])["iat"]
    assert abs(result["refresh_on"] - (issued_at + 1800)) <= 2
    assert info.refresh_on is not None
    assert abs(info.refresh_on - (sandbox.verify_access_token(info.token)["iat"] + 1800)) <= 2


def test_client_capability_cp1_puts_xms_cc_in_the_token(
    sandbox: Sandbox, http_client: CaPinnedHttpClient
) -> None:
    app = sandbox.register_app()

    with_cp1 = msal_app(
        sandbox, http_client, app, sandbox.issue_assertion, client_capabilities=["CP1"]
    ).acquire_token_for_client([STORAGE])
    without = msal_app(sandbox, http_client, app, sandbox.issue_assertion).acquire_token_for_client([STORAGE])
    with identity_credential(sandbox, app, sandbox.issue_assertion) as credential:
        cae = credential.get_token("https://vault.azure.net/.default", enable_cae=True)

    assert sandbox.verify_access_token(with_cp1["access_token"])["xms_cc"] == ["CP1"]
    assert "xms_cc" not in sandbox.verify_access_token(without["access_token"])
    assert sandbox.verify_access_token(cae.token)["xms_cc"] == ["CP1"]


# --- rejections ----------------------------------------------------------------------------------------


@dataclass
class Case:
    app: App
    assertion: Callable[[], str]
    scope: str = STORAGE


def _forged(sandbox: Sandbox) -> str:
    genuine = sandbox.issue_assertion()
    payload = jwt.decode(genuine, options={"verify_signature": False})
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(
        payload, other_key, algorithm="RS256", headers={"kid": jwt.get_unverified_header(genuine)["kid"]}
    )


def _unknown_app(sandbox: Sandbox) -> Case:
    tenant = sandbox.register_app().tenant_id
    return Case(App(tenant_id=tenant, client_id=str(uuid.uuid4())), sandbox.issue_assertion)


REJECTIONS: dict[str, tuple[Callable[[Sandbox], Case], int]] = {
    "unknown-app": (_unknown_app, 700016),
    "scope-without-default": (
        lambda s: Case(s.register_app(), s.issue_assertion, "https://storage.azure.com"),
        1002012,
    ),
    "expired": (
        lambda s: Case(s.register_app(), lambda: s.issue_assertion(exp=int(time.time()) - 30)),
        700024,
    ),
    "not-yet-valid": (
        lambda s: Case(s.register_app(), lambda: s.issue_assertion(nbf=int(time.time()) + 300)),
        700024,
    ),
    "issuer-mismatch": (
        lambda s: Case(s.register_app(issuer="https://issuer.example"), s.issue_assertion),
        700211,
    ),
    "subject-mismatch": (
        lambda s: Case(s.register_app(subject="system:serviceaccount:x:y"), s.issue_assertion),
        700213,
    ),
    "audience-mismatch": (lambda s: Case(s.register_app(audience="api://other"), s.issue_assertion), 700212),
    "forged-signature": (lambda s: Case(s.register_app(), lambda: _forged(s)), 700027),
    "malformed": (lambda s: Case(s.register_app(), lambda: "this-is-not-a-jwt"), 50027),
}


@pytest.mark.parametrize("name", list(REJECTIONS))
def test_msal_caller_sees_each_rejection_with_its_aadsts_code(
    sandbox: Sandbox, http_client: CaPinnedHttpClient, name: str
) -> None:
    make_case, code = REJECTIONS[name]
    case = make_case(sandbox)

    result = msal_app(sandbox, http_client, case.app, case.assertion).acquire_token_for_client([case.scope])

    assert "access_token" not in result
    assert result["error_codes"] == [code]
    assert result["error_description"].startswith(f"AADSTS{code}:")


@pytest.mark.parametrize("name", list(REJECTIONS))
def test_azure_identity_caller_sees_each_rejection_with_its_aadsts_code(sandbox: Sandbox, name: str) -> None:
    make_case, code = REJECTIONS[name]
    case = make_case(sandbox)

    with (
        identity_credential(sandbox, case.app, case.assertion) as credential,
        pytest.raises(ClientAuthenticationError, match=f"AADSTS{code}:"),
    ):
        credential.get_token(case.scope)


def test_mismatch_description_names_the_presented_subject(
    sandbox: Sandbox, http_client: CaPinnedHttpClient
) -> None:
    app = sandbox.register_app(subject="system:serviceaccount:default:expected")
    assertion = sandbox.issue_assertion(subject="system:serviceaccount:default:presented")

    result = msal_app(sandbox, http_client, app, lambda: assertion).acquire_token_for_client([STORAGE])

    description = result["error_description"]
    assert result["error_codes"] == [700213]
    assert "presented assertion subject 'system:serviceaccount:default:presented'" in description
    assert assertion not in description


def test_unknown_tenant_reaches_msal_and_azure_identity_as_aadsts90002(
    sandbox: Sandbox, http_client: CaPinnedHttpClient
) -> None:
    stranger = App(tenant_id=str(uuid.uuid4()), client_id=str(uuid.uuid4()))

    with pytest.raises(ValueError, match="tenant") as raised:
        msal_app(sandbox, http_client, stranger, sandbox.issue_assertion)
    with (
        identity_credential(sandbox, stranger, sandbox.issue_assertion) as credential,
        pytest.raises(ClientAuthenticationError, match="AADSTS90002:"),
    ):
        credential.get_token(STORAGE)

    assert "AADSTS90002" in str(raised.value.__context__)  # MSAL keeps Entra's answer as the cause


# --- faults --------------------------------------------------------------------------------------------


def test_msal_sees_an_injected_server_error_then_recovers(
    sandbox: Sandbox, http_client: CaPinnedHttpClient
) -> None:
    app = sandbox.register_app()
    client = msal_app(sandbox, http_client, app, sandbox.issue_assertion)
    sandbox.fail_next(status=503, retry_after=0)  # Retry-After: 0 keeps MSAL from replaying the 503

    # MSAL raises for a 5xx: its own MsalServiceError since 1.31, the transport's HTTPError before.
    with pytest.raises((MsalServiceError, requests.HTTPError), match="503"):
        client.acquire_token_for_client([STORAGE])
    result = client.acquire_token_for_client([STORAGE])

    assert "access_token" in result
    assert [r.status for r in sandbox.recorded()] == [503, 200]
    assert sandbox.recorded()[0].error_code == 50000


def test_msal_sees_a_dropped_connection_as_a_connection_error(
    sandbox: Sandbox, http_client: CaPinnedHttpClient
) -> None:
    app = sandbox.register_app()
    sandbox.drop_next()

    with pytest.raises(requests.ConnectionError):
        msal_app(sandbox, http_client, app, sandbox.issue_assertion).acquire_token_for_client([STORAGE])

    assert sandbox.request_count() == 1


def test_azure_identity_retries_a_dropped_connection(sandbox: Sandbox) -> None:
    app = sandbox.register_app()
    sandbox.drop_next()

    with ClientAssertionCredential(
        app.tenant_id,
        app.client_id,
        sandbox.issue_assertion,
        authority=sandbox.authority,
        connection_verify=sandbox.ca_file,
    ) as credential:
        token = credential.get_token(STORAGE)

    assert sandbox.verify_access_token(token.token)["appid"] == app.client_id
    assert [r.status for r in sandbox.recorded()] == [None, 200]


def test_azure_identity_surfaces_a_throttling_answer(sandbox: Sandbox) -> None:
    app = sandbox.register_app()
    sandbox.fail_next(status=429, retry_after=1)

    with (
        identity_credential(sandbox, app, sandbox.issue_assertion) as credential,
        pytest.raises(ClientAuthenticationError, match="AADSTS90055"),
    ):
        credential.get_token(STORAGE)

    assert sandbox.recorded()[0].status == 429
