"""Microsoft Graph's federated identity credential endpoints, with Entra's rules.

``/graph/v1.0`` and ``/graph/beta`` (``claimsMatchingExpression``, flexible FICs, only in beta), for
``applications(appId='{appId}')/federatedIdentityCredentials`` and
``applications/{object-id}/federatedIdentityCredentials`` (and ``/{id-or-name}``). Authorized like
Graph: a bearer token of the sandbox's STS for ``https://graph.microsoft.com`` whose ``roles`` hold
``Application.ReadWrite.All`` (any app of its tenant), ``Application.ReadWrite.OwnedBy`` (its own app)
or, to read, ``Application.Read.All``. Errors in Graph's shape: ``{"error": {"code", "message",
"innerError": {"request-id", "date"}}}``.

A credential created, changed or deleted here governs the STS after ``propagation_delay()`` seconds.
"""

from __future__ import annotations

import datetime
import json
import re
import time
import uuid
from dataclasses import replace
from typing import Any, Callable, Mapping
from urllib.parse import unquote

import jwt

from ._claims_matching import InvalidExpression, pins, read
from ._directory import Directory, FederatedCredential
from ._server import Request, Response, Route

MAX_CREDENTIALS = 20
MAX_LENGTH = 600
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{2,119}")
_APPLICATION = (
    r"applications(?:\((?:appId=)?(?:'|%27)(?P<app_id>[^'%/]+)(?:'|%27)\)|/(?P<object_id>[0-9a-fA-F-]{36}))"
)
# Graph SDK clients send a doubled slash after the version (/v1.0//applications/...), which Graph accepts.
# A FIC is addressed by id or name (/{key}) or by name as Graph's key: (name='{name}'), '' quoting a '.
_PATH = (
    rf"/graph/(?P<version>v1\.0|beta)/+{_APPLICATION}/federatedIdentityCredentials"
    r"(?:/(?P<key>[^/()]+)|\(name=(?:'|%27)(?P<name_key>(?:[^'%]|%(?!27)|''|%27%27)*)(?:'|%27)\))?"
)
PUBLIC_FLEXIBLE_ISSUERS = (
    "https://token.actions.githubusercontent.com",
    "https://gitlab.com",
    "https://app.terraform.io",
)
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
_READ = {"Application.Read.All", "Application.ReadWrite.All", "Application.ReadWrite.OwnedBy"}
_WRITE_ANY = "Application.ReadWrite.All"
_WRITE_OWN = "Application.ReadWrite.OwnedBy"


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Graph:
    def __init__(
        self,
        directory: Directory,
        verify_token: Callable[[str], dict[str, Any]],
        *,
        github_issuers: Callable[[], tuple[str, ...]],
        loopback_issuer: Callable[[str], bool],
        propagation_delay: Callable[[], float],
    ) -> None:
        self._directory = directory
        self._verify = verify_token
        self._github_issuers = github_issuers
        self._loopback_issuer = loopback_issuer
        self._delay = propagation_delay

    def routes(self) -> list[Route]:
        return [
            Route(method, _PATH, "graph", self._handle, failure_body=_failure_body)
            for method in ("GET", "POST", "PATCH", "DELETE")
        ]

    # --- requests -----------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            return self._dispatch(request, request_id)
        except GraphError as error:
            return _error(error.status, error.code, error.message, request_id)

    def _dispatch(self, request: Request, request_id: str) -> Response:
        claims = self._authorize(request)
        beta = request.params["version"] == "beta"
        found = self._directory.application(
            str(claims["tid"]),
            app_id=unquote(request.params["app_id"]) if request.params.get("app_id") else None,
            object_id=request.params.get("object_id"),
        )
        if found is None:
            raise GraphError(
                404,
                "Request_ResourceNotFound",
                "Resource does not exist or one of its queried reference-property objects are not present.",
            )
        client_id, registration = found
        roles = set(claims.get("roles") or ())
        own = str(claims.get("appid", "")).lower() == client_id
        if not roles & _READ:
            raise GraphError(
                403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
            )
        if request.method != "GET" and not (_WRITE_ANY in roles or (_WRITE_OWN in roles and own)):
            raise GraphError(
                403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
            )
        key = unquote(request.params["key"]) if request.params.get("key") else None
        by_name = request.params.get("name_key")
        if by_name is not None:
            key = unquote(by_name).replace("''", "'")
        headers = (("request-id", request_id),)
        if request.method == "GET" and key is None:
            values = [_shape(c, beta) for c in self._visible(registration)]
            return Response.json(200, {"@odata.context": "sandbox", "value": values}, headers=headers)
        if request.method == "POST" and key is None:
            created = self._create(registration, _body(request), beta)
            return Response.json(201, _shape(created, beta), headers=headers)
        if key is None:
            raise GraphError(
                405, "Request_BadRequest", f"{request.method} is not supported on the collection."
            )
        if by_name is not None and request.method == "PATCH" and not self._exists(registration, key):
            # Graph's upsert: PATCH by name creates the credential when it does not exist yet.
            created = self._create(registration, {**_body(request), "name": key}, beta)
            return Response.json(201, _shape(created, beta), headers=headers)
        existing = self._find(registration, key)
        if request.method == "GET":
            return Response.json(200, _shape(existing, beta), headers=headers)
        if request.method == "DELETE":
            self._retire(registration, existing)
            return Response(204, b"", headers, "application/json")
        self._update(registration, existing, _body(request), beta)
        return Response(204, b"", headers, "application/json")

    def _authorize(self, request: Request) -> dict[str, Any]:
        header = request.header("authorization") or ""
        if not header.startswith("Bearer "):
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        try:
            return self._verify(header[len("Bearer ") :])
        except jwt.PyJWTError as error:
            raise GraphError(
                401, "InvalidAuthenticationToken", f"Access token validation failure: {type(error).__name__}."
            ) from None

    # --- the rules ------------------------------------------------------------------------------

    def _visible(self, registration: Any) -> list[FederatedCredential]:
        return self._directory.edit(registration, lambda creds: [c for c in creds if c.retired_at is None])

    def _exists(self, registration: Any, key: str) -> bool:
        return any(c.id == key or c.name.lower() == key.lower() for c in self._visible(registration))

    def _find(self, registration: Any, key: str) -> FederatedCredential:
        for credential in self._visible(registration):
            if credential.id == key or credential.name.lower() == key.lower():
                return credential
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            f"Resource '{key}' does not exist or one of its queried reference-property objects are not present.",
        )

    def _create(self, registration: Any, body: Mapping[str, Any], beta: bool) -> FederatedCredential:
        candidate = self._validated(body, beta, name_required=True)
        now = time.time()
        credential = replace(candidate, id=str(uuid.uuid4()), effective_at=now + self._delay())

        def add(credentials: list[FederatedCredential]) -> FederatedCredential:
            visible = [c for c in credentials if c.retired_at is None]
            self._check_unique(visible, credential)
            if len(visible) >= MAX_CREDENTIALS:
                raise GraphError(
                    400,
                    "Request_BadRequest",
                    f"An application can have at most {MAX_CREDENTIALS} federated identity credentials.",
                )
            credentials.append(credential)
            return credential

        return self._directory.edit(registration, add)

    def _update(
        self, registration: Any, existing: FederatedCredential, body: Mapping[str, Any], beta: bool
    ) -> None:
        if "name" in body and str(body["name"]).lower() != existing.name.lower():
            raise GraphError(
                400,
                "Request_BadRequest",
                "Property 'name' is read-only and cannot be changed after creation.",
            )
        merged = {**_shape(existing, True), **dict(body), "name": existing.name}
        if "subject" in body and body["subject"] is not None:
            merged["claimsMatchingExpression"] = None
        if body.get("claimsMatchingExpression") is not None:
            merged["subject"] = None
        if merged.get("claimsMatchingExpression") is None and "claimsMatchingExpression" not in body:
            merged.pop("claimsMatchingExpression", None)
        candidate = self._validated(merged, beta or existing.expression is not None, name_required=True)
        now = time.time()
        delay = self._delay()
        new = replace(candidate, id=existing.id, effective_at=now + delay)

        def swap(credentials: list[FederatedCredential]) -> None:
            others = [c for c in credentials if c.retired_at is None and c.id != existing.id]
            self._check_unique(others, new)
            index = _index(credentials, existing)
            credentials[index] = replace(existing, retired_at=now + delay)
            credentials.append(new)

        self._directory.edit(registration, swap)

    def _retire(self, registration: Any, existing: FederatedCredential) -> None:
        retired = replace(existing, retired_at=time.time() + self._delay())

        def swap(credentials: list[FederatedCredential]) -> None:
            credentials[_index(credentials, existing)] = retired

        self._directory.edit(registration, swap)

    @staticmethod
    def _check_unique(others: list[FederatedCredential], credential: FederatedCredential) -> None:
        for other in others:
            if other.name.lower() == credential.name.lower():
                raise GraphError(
                    409,
                    "Request_MultipleObjectsWithSameKeyValue",
                    f"FederatedIdentityCredential with name {credential.name} already exists.",
                )
            if credential.subject is not None and (other.issuer, other.subject) == (
                credential.issuer,
                credential.subject,
            ):
                raise GraphError(
                    409,
                    "Request_MultipleObjectsWithSameKeyValue",
                    f"FederatedIdentityCredential '{other.name}' already has issuer '{other.issuer}' and subject "
                    f"'{other.subject}': an application can trust an issuer and subject once.",
                )

    def _validated(self, body: Mapping[str, Any], beta: bool, *, name_required: bool) -> FederatedCredential:
        known = {"name", "issuer", "subject", "audiences", "description", "id"} | (
            {"claimsMatchingExpression"} if beta else set()
        )
        unknown = sorted(k for k in body if k not in known and not k.startswith("@odata"))
        if unknown:
            raise GraphError(
                400,
                "Request_BadRequest",
                f"Property '{unknown[0]}' does not exist on type 'microsoft.graph.federatedIdentityCredential'.",
            )
        name, issuer, subject = body.get("name"), body.get("issuer"), body.get("subject")
        audiences, description = body.get("audiences"), body.get("description")
        expression_body = body.get("claimsMatchingExpression")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise GraphError(
                400,
                "Request_BadRequest",
                "Invalid value specified for property 'name': it must be 3 to 120 URL-safe characters.",
            )
        if not isinstance(issuer, str) or not issuer:
            raise GraphError(400, "Request_BadRequest", "Property 'issuer' is required.")
        for field_name, value in (("issuer", issuer), ("subject", subject), ("description", description)):
            if isinstance(value, str) and len(value) > MAX_LENGTH:
                raise GraphError(
                    400,
                    "Request_BadRequest",
                    f"Property '{field_name}' exceeds the maximum length of {MAX_LENGTH}.",
                )
        if (
            not isinstance(audiences, list)
            or len(audiences) != 1
            or not isinstance(audiences[0], str)
            or not audiences[0]
        ):
            raise GraphError(
                400, "Request_BadRequest", "Property 'audiences' must contain exactly one value."
            )
        if len(audiences[0]) > MAX_LENGTH:
            raise GraphError(
                400, "Request_BadRequest", f"Property 'audiences' exceeds the maximum length of {MAX_LENGTH}."
            )
        expression = None
        if expression_body is not None:
            if subject is not None:
                raise GraphError(
                    400, "Request_BadRequest", "'subject' and 'claimsMatchingExpression' cannot both be set."
                )
            if not isinstance(expression_body, dict) or expression_body.get("languageVersion") != 1:
                raise GraphError(
                    400,
                    "Request_BadRequest",
                    "claimsMatchingExpression needs 'value' and 'languageVersion': 1.",
                )
            expression = expression_body.get("value")
            try:
                parsed = read(expression)
            except InvalidExpression as error:
                raise GraphError(
                    400, "Request_BadRequest", f"Invalid claimsMatchingExpression: {error}"
                ) from None
            self._check_issuer_rules(issuer, parsed)
        elif not isinstance(subject, str) or not subject:
            raise GraphError(
                400,
                "Request_BadRequest",
                "Property 'subject' is required (or, in beta, 'claimsMatchingExpression').",
            )
        return FederatedCredential(
            issuer=issuer,
            subject=subject if expression is None else None,
            audience=audiences[0],
            name=name,
            description=description if isinstance(description, str) else None,
            expression=expression,
        )

    def _check_issuer_rules(self, issuer: str, expression: Any) -> None:
        github = issuer == GITHUB_ISSUER or issuer in self._github_issuers()
        if not (github or issuer in PUBLIC_FLEXIBLE_ISSUERS or self._loopback_issuer(issuer)):
            raise GraphError(
                400,
                "Request_BadRequest",
                f"Flexible federated identity credentials are not supported for issuer '{issuer}'.",
            )
        if github and not (pins(expression, "repository_id") or pins(expression, "repository_owner_id")):
            raise GraphError(
                400,
                "Request_BadRequest",
                "A claimsMatchingExpression for GitHub must also pin claims['repository_id'] or claims['repository_owner_id'] with eq.",
            )


def _index(credentials: list[FederatedCredential], credential: FederatedCredential) -> int:
    """Where this very record is (records compare equal across versions of one credential)."""
    return next(i for i, c in enumerate(credentials) if c is credential)


def _shape(credential: FederatedCredential, beta: bool) -> dict[str, Any]:
    shaped: dict[str, Any] = {
        "id": credential.id,
        "name": credential.name,
        "issuer": credential.issuer,
        "subject": credential.subject,
        "description": credential.description,
        "audiences": [credential.audience],
    }
    if beta:
        shaped["claimsMatchingExpression"] = (
            None if credential.expression is None else {"value": credential.expression, "languageVersion": 1}
        )
    return shaped


def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload.") from None
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", "The request payload must be a JSON object.")
    return body


def _error(status: int, code: str, message: str, request_id: str) -> Response:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    document = {
        "error": {"code": code, "message": message, "innerError": {"request-id": request_id, "date": now}}
    }
    return Response.json(status, document, headers=(("request-id", request_id),))


def _failure_body(failure: Any, request: Request) -> Response:
    """An injected failure (``fail_next(endpoint="graph")``) in Graph's error shape."""
    status = int(failure.status)
    code = "TooManyRequests" if status == 429 else "ServiceUnavailable" if status >= 500 else "BadRequest"
    return _error(status, code, f"Injected fault: HTTP {status}.", str(uuid.uuid4()))
