"""Entra ID's error responses: the JSON shape, the status codes, and the AADSTS codes the sandbox uses."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

#: OAuth error → HTTP status, as Entra answers them.
_STATUS_FOR_ERROR = {
    "invalid_request": 400,
    "invalid_grant": 400,
    "invalid_scope": 400,
    "invalid_tenant": 400,
    "invalid_instance": 400,
    "unauthorized_client": 400,
    "unsupported_grant_type": 400,
    "invalid_client": 401,
    "temporarily_unavailable": 503,
    "server_error": 500,
}

_WIF_DOCS = "https://docs.microsoft.com/en-us/azure/active-directory/develop/workload-identity-federation"
_ASSERTION_DOCS = (
    "https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials"
)


class EntraError(Exception):
    """A rejection the token service answers with Entra's JSON error body.

    ``message`` is the text after ``AADSTSnnnnn:``; it must never contain a token.
    """

    def __init__(
        self,
        error: str,
        code: int,
        message: str,
        *,
        status: int | None = None,
        one_line: bool = False,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(f"AADSTS{code}: {message}")
        self.error = error
        self.code = code
        self.message = message
        self.status = status if status is not None else _STATUS_FOR_ERROR.get(error, 400)
        self.one_line = one_line
        #: Seconds for the Retry-After header (throttling).
        self.retry_after = retry_after

    def body(self, *, correlation_id: str | None = None) -> dict[str, Any]:
        return error_body(
            self.error, self.code, self.message, correlation_id=correlation_id, one_line=self.one_line
        )


def error_body(
    error: str, code: int, message: str, *, correlation_id: str | None = None, one_line: bool = False
) -> dict[str, Any]:
    """Entra's error JSON: the description ends with the Trace ID, Correlation ID and Timestamp, on lines
    of their own (``\\r\\n``, the long-standing format) or, as today's FIC-mismatch answers, on one line."""
    trace_id = str(uuid.uuid4())
    correlation_id = correlation_id or str(uuid.uuid4())
    timestamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    separator = " " if one_line else "\r\n"
    description = separator.join(
        [
            f"AADSTS{code}: {message}",
            f"Trace ID: {trace_id}",
            f"Correlation ID: {correlation_id}",
            f"Timestamp: {timestamp}",
        ]
    )
    return {
        "error": error,
        "error_description": description,
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }


def _iso(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond * 10:07d}Z"


# The catalogue. Each function returns the error Entra gives for that situation.


def tenant_not_found(tenant: str) -> EntraError:
    return EntraError(
        "invalid_tenant",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing "
        "into the correct cloud. Check with your subscription administrator, this may happen if there are "
        "no active subscriptions for the tenant.",
    )


def no_tenant_in_request() -> EntraError:
    return EntraError(
        "invalid_request",
        50059,
        "No tenant-identifying information found in either the request or implied by any provided "
        "credentials.",
    )


def unknown_instance() -> EntraError:
    return EntraError("invalid_instance", 50049, "Unknown or invalid instance.")


def missing_parameter(name: str) -> EntraError:
    return EntraError(
        "invalid_request", 900144, f"The request body must contain the following parameter: '{name}'."
    )


def unsupported_grant_type(grant_type: str) -> EntraError:
    return EntraError(
        "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant_type}'."
    )


def application_not_found(client_id: str, tenant: str) -> EntraError:
    return EntraError(
        "unauthorized_client",
        700016,
        f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can "
        "happen if the application has not been installed by the administrator of the tenant or consented "
        "to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
    )


def missing_client_credential() -> EntraError:
    return EntraError(
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    )


def invalid_client_secret(client_id: str) -> EntraError:
    return EntraError(
        "invalid_client",
        7000215,
        f"Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
        f"value, not the client secret ID, for a secret added to app '{client_id}'.",
    )


def unsupported_assertion_type(assertion_type: str) -> EntraError:
    return EntraError(
        "invalid_client",
        70002,
        f"Error validating credentials. The client_assertion_type '{assertion_type}' is not supported; "
        "use 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.",
    )


def malformed_assertion(reason: str) -> EntraError:
    return EntraError("invalid_request", 50027, f"JWT token is invalid or malformed. {reason}".rstrip())


def invalid_claims_parameter() -> EntraError:
    return EntraError("invalid_request", 90100, "claims parameter is empty or not valid.")


#: Today's FIC-mismatch answers (recorded 2024-2026): one code per field, in this order of checks.
_FIC_FIELD_CODES = {"issuer": 700211, "subject": 700213, "audience": 700212}
_FIC_CHECK = (
    "Check your federated identity credential Subject, Audience and Issuer against the presented "
    "assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
)


def no_matching_federated_credential_field(field: str, presented: str) -> EntraError:
    """AADSTS700211 (issuer), 700213 (subject) or 700212 (audience), as Entra answers them today: the
    presented value quoted, then the advice and the trace line, all on one line."""
    return EntraError(
        "invalid_client",
        _FIC_FIELD_CODES[field],
        f"No matching federated identity record found for presented assertion {field} '{presented}'. "
        f"{_FIC_CHECK}",
        one_line=True,
    )


def no_matching_federated_credential(issuer: str, subject: str, audience: str) -> EntraError:
    """The older AADSTS70021 answer (``Sandbox(legacy_fic_errors=True)``), naming all three values."""
    return EntraError(
        "invalid_client",
        70021,
        "No matching federated identity record found for presented assertion. "
        f"Assertion Issuer: '{issuer}'. Assertion Subject: '{subject}'. Assertion Audience: '{audience}'. "
        f"{_WIF_DOCS}",
    )


def issuer_metadata_unavailable(issuer: str, reason: str) -> EntraError:
    return EntraError(
        "invalid_client",
        50166,
        f"Request to External OIDC endpoint failed. Issuer '{issuer}': {reason}",
    )


def signing_key_not_found(kid: str, issuer: str) -> EntraError:
    return EntraError(
        "invalid_client",
        7000272,
        f"The certificate with identifier {kid} used to sign the federated credential could not be found in "
        f"the metadata of identity provider {issuer}. Please validate that your Identity Provider's metadata "
        "exposes the key used to sign the incoming token.",
    )


def invalid_signature(issuer: str) -> EntraError:
    return EntraError(
        "invalid_client",
        700027,
        f"Client assertion failed signature validation. The token was not signed by a key of identity "
        f"provider {issuer}.",
    )


def assertion_outside_time_range(now: float, not_before: float | None, expires: float) -> EntraError:
    valid_from = _iso(not_before) if not_before is not None else "(no nbf claim)"
    return EntraError(
        "invalid_client",
        700024,
        f"Client assertion is not within its valid time range. Current time: {_iso(now)}, assertion valid "
        f"from {valid_from}, expiry time of assertion {_iso(expires)}. Review the documentation at "
        f"{_ASSERTION_DOCS} .",
    )


def invalid_scope_suffix(scope: str) -> EntraError:
    return EntraError(
        "invalid_scope",
        1002012,
        f"The provided value for scope {scope} is not valid. Client credential flows must have a scope value "
        "with /.default suffixed to the resource identifier (application ID URI).",
    )


def invalid_scope(scope: str) -> EntraError:
    return EntraError(
        "invalid_scope",
        70011,
        f"The provided request must include a 'scope' input parameter. The provided value for the input "
        f"parameter 'scope' is not valid. The scope {scope} is not valid. Client credential flows request "
        "a single resource.",
    )


#: Entra's throttling answers: 429 TenantThrottlingError, 503 "too busy" RequestBudgetExceededError.
THROTTLING_CODES = {429: 90055, 503: 90024}
_MESSAGES = {
    90055: "TenantThrottlingError - There are too many pending requests for this tenant. Please try again later.",
    90024: "RequestBudgetExceededError - A transient error has occurred. Please try again later.",
}


def injected_fault(status: int, *, error: str | None = None, code: int | None = None) -> EntraError:
    """What an injected fault (``Sandbox.fail_next``, ``Sandbox.throttle``) answers; ``error``/``code``
    override the defaults."""
    if code in _MESSAGES:
        return EntraError(error or "temporarily_unavailable", code, _MESSAGES[code], status=status)
    if status == 429:
        default_error, default_code = "temporarily_unavailable", 90055
        message = "TenantThrottlingError: There are too many incoming requests."
    else:
        default_error = {400: "invalid_request", 401: "invalid_client", 403: "unauthorized_client"}.get(
            status, "temporarily_unavailable" if status in (503, 504) else "server_error"
        )
        default_code = 50000
        message = "There was an error issuing a token or an issue with our sign-in service."
    return EntraError(error or default_error, code or default_code, message, status=status)
