"""Errors that explain: Entra's answer, plus what the user presented and what to change.

A hint is built only from the assertion's unverified claims (iss, sub, aud, iat, nbf, exp) and the
configuration (tenant, client id, authority) — never from the assertion or a token.
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Optional, Sequence

from azure.core.exceptions import ClientAuthenticationError

from ._audience import EXCHANGE_AUDIENCES, PUBLIC_CLOUD_AUDIENCE
from ._claims import format_time
from ._redact import first_line
from ._retry_after import when_text

#: Codes for "no federated identity credential matches the assertion" (all / issuer / audience / subject).
FIC_MISMATCH_CODES = frozenset({70021, 700211, 700212, 700213})


def _init_without_context(error: ClientAuthenticationError, message: str) -> None:
    """azure-core's AzureError.__init__ records (and formats) whatever exception is being handled: a
    foreign one whose text may hold a secret, or whose ``__str__`` raises. Our errors record nothing."""
    Exception.__init__(error, message)
    error.inner_exception = None
    error.exc_type = type(error)
    error.exc_value = None
    error.exc_traceback = None
    error.exc_msg = message
    error.message = message
    error.continuation_token = None
    error.response = None
    error.status_code = None
    error.reason = None
    error.model = None
    error.error = None


def scrubbed(error: ClientAuthenticationError) -> ClientAuthenticationError:
    """``error`` with what azure-core recorded of the exception being handled forgotten."""
    error.inner_exception = None
    error.exc_value = None
    error.exc_traceback = None
    error.exc_msg = error.message
    return error


class AssertionSourceError(ClientAuthenticationError):
    """The assertion source failed (raised, or returned something that is not an assertion)."""

    def __init__(self, message: str) -> None:
        _init_without_context(self, message)


class TokenExchangeError(ClientAuthenticationError):
    """Microsoft Entra refused to exchange the assertion, or could not be reached.

    Attributes: ``oauth_error`` (OAuth error, e.g. ``invalid_client``), ``error_codes`` (AADSTS numbers),
    ``description`` (Entra's text), ``correlation_id``, ``trace_id``, ``status_code`` (HTTP status or
    None), ``hint`` (what to check, from the assertion's claims), ``retryable`` (whether trying again
    later may succeed: 429, 5xx and transport failures) and ``retry_after`` (seconds from when it was
    raised until the service, or the credential's hold after a failure, lets a new attempt through;
    None when nothing was said).
    """

    def __init__(
        self,
        message: str,
        *,
        error: Optional[str] = None,
        error_codes: Sequence[int] = (),
        description: Optional[str] = None,
        correlation_id: Optional[str] = None,
        trace_id: Optional[str] = None,
        status_code: Optional[int] = None,
        hint: Optional[str] = None,
        retryable: bool = False,
        retry_after: Optional[float] = None,
    ) -> None:
        _init_without_context(self, message)
        self.retry_after = retry_after
        self.oauth_error = error
        self.error_codes = list(error_codes)
        self.description = description
        self.correlation_id = correlation_id
        self.trace_id = trace_id
        self.status_code = status_code
        self.hint = hint
        self.retryable = retryable


def _aud_text(aud: Any) -> str:
    if isinstance(aud, list):
        return ", ".join(repr(a) for a in aud)
    return repr(aud)


def build_hint(
    codes: Sequence[int],
    claims: Mapping[str, Any],
    *,
    tenant_id: str,
    client_id: str,
    now: Optional[float] = None,
) -> Optional[str]:
    """What to fix, for the AADSTS codes we know; None for the others."""
    code_set = set(codes)
    now = time.time() if now is None else now
    if code_set & FIC_MISMATCH_CODES:
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        first = ""
        if aud is not None and not any(a in EXCHANGE_AUDIENCES for a in audiences):
            first = (
                f"The assertion's audience {_aud_text(aud)} is not the token-exchange audience: Entra expects "
                f"{PUBLIC_CLOUD_AUDIENCE!r} (api://AzureADTokenExchangeUSGov / ...China in those clouds). "
                "Usually the token side is what is wrong: request the token with that audience (a projected "
                "service-account token's audience, GitHubActionsAssertion's audience=, your CI's id_tokens aud). "
                "Only to use a custom audience, add it to the federated identity credential. "
            )
        return first + (
            "The assertion presented issuer={iss!r}, subject={sub!r}, audience={aud}. A federated identity "
            "credential on app {client} (tenant {tenant}) must contain exactly this issuer, subject and "
            "audience (case-sensitive, no trailing slash differences). Compare with: azure-wif-credential "
            "trust list --app {client} (or az ad app federated-credential list --id {client}); "
            "azure-wif-credential doctor marks the field that differs and prints the fix.".format(
                iss=claims.get("iss"),
                sub=claims.get("sub"),
                aud=_aud_text(claims.get("aud")),
                client=client_id,
                tenant=tenant_id,
            )
        )
    if 700024 in code_set:
        exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
        if isinstance(exp, (int, float)) and exp <= now:
            cause = (
                "It has expired: the token source handed out a stale token (is the token file's writer "
                "- kubelet, a CI step - still refreshing it? a CI token fetched once at job start expires "
                "during a long job; use a source that fetches a fresh one, e.g. GitHubActionsAssertion)."
            )
        elif isinstance(nbf, (int, float)) and nbf > now:
            cause = "It is not valid yet: this machine's clock or the issuer's is off (check NTP)."
        else:
            cause = "Entra's clock and the assertion disagree: check this machine's clock (NTP)."
        return (
            f"The assertion's time range: iat={format_time(claims.get('iat'))}, "
            f"nbf={format_time(claims.get('nbf'))}, exp={format_time(exp)}; local clock "
            f"{format_time(now)}. {cause}"
        )
    if 700016 in code_set:
        return (
            f"No application with client id {client_id!r} exists in tenant {tenant_id!r}. Check "
            "AZURE_CLIENT_ID / AZURE_TENANT_ID (the client id is the app registration's "
            "'Application (client) ID', not its object id) and that the app is registered or consented "
            "in that tenant."
        )
    if 90002 in code_set:
        return f"Tenant {tenant_id!r} does not exist at this authority: check AZURE_TENANT_ID and the authority host."
    if 1002012 in code_set or 70011 in code_set:
        return (
            "Request one resource with the '/.default' suffix, e.g. 'https://storage.azure.com/.default' "
            "or 'https://graph.microsoft.com/.default'."
        )
    if code_set & {700027, 50013, 5002738}:
        return (
            f"Entra could not verify the assertion's signature with the keys its issuer {claims.get('iss')!r} "
            "publishes (OIDC discovery document, jwks_uri). Is the issuer URL right, and are its keys "
            "current and publicly reachable?"
        )
    if code_set & {90061, 700231, 700236}:
        return (
            f"Entra could not fetch the OIDC discovery document or keys of issuer {claims.get('iss')!r}: "
            "the issuer must serve /.well-known/openid-configuration over public HTTPS."
        )
    if code_set & {50027, 50126}:
        return "The assertion is not a valid JWT: check what your assertion source returns (a raw JWT, no quotes)."
    return None


def error_from_entra(
    result: Mapping[str, Any],
    claims: Mapping[str, Any],
    *,
    tenant_id: str,
    client_id: str,
    status_code: Optional[int] = None,
    retry_after: Optional[float] = None,
) -> TokenExchangeError:
    """An Entra error response (as MSAL returns it) → TokenExchangeError with a hint (and, when Entra
    said when to come back, ``retry_after``)."""
    description = str(result.get("error_description") or "")
    raw_codes = result.get("error_codes") or []
    codes = [int(c) for c in raw_codes if isinstance(c, int) or (isinstance(c, str) and c.isdigit())]
    error = str(result.get("error") or "unknown_error")
    hint = build_hint(codes, claims, tenant_id=tenant_id, client_id=client_id)
    correlation_id = result.get("correlation_id")
    parts = [
        f"Microsoft Entra ID refused the token exchange for client {client_id} in tenant {tenant_id}: "
        f"{first_line(description, 2000) or error}"
    ]
    if hint:
        parts.append(f"Hint: {hint}")
    if retry_after is not None:
        parts.append(f"Entra asked to try again {when_text(retry_after)}.")
    if correlation_id:
        parts.append(f"Correlation ID: {correlation_id}")
    retryable = (status_code is not None and (status_code == 429 or status_code >= 500)) or error in (
        "temporarily_unavailable",
        "server_error",
    )
    return TokenExchangeError(
        "\n".join(parts),
        error=error,
        error_codes=codes,
        description=description,
        correlation_id=str(correlation_id) if correlation_id else None,
        trace_id=str(result["trace_id"]) if result.get("trace_id") else None,
        status_code=status_code,
        hint=hint,
        retryable=retryable or retry_after is not None,
        retry_after=retry_after,
    )


def tls_failure(error: BaseException, where: str) -> Optional[TokenExchangeError]:
    """A TokenExchangeError explaining an untrusted certificate, if ``error`` (or what caused it) is one."""
    import ssl

    seen: set[int] = set()
    current: Optional[BaseException] = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current)
        if (
            isinstance(current, ssl.SSLError)
            or "CERTIFICATE_VERIFY_FAILED" in text
            or "SSLError" in type(current).__name__
        ):
            reason = (
                "its certificate is not trusted"
                if "CERTIFICATE_VERIFY_FAILED" in text
                else "the TLS handshake failed"
            )
            return TokenExchangeError(
                f"Could not connect to {where}: {reason} ({first_line(text)[:200]}). Trust the CA that signed "
                "it: pass connection_verify='<CA bundle>' to the credential (CLI: --ca-file, or "
                "AZURE_WIF_CA_FILE), or set REQUESTS_CA_BUNDLE; for the local sandbox that is sandbox.ca_file.",
                retryable=False,
            )
        inner = getattr(current, "inner_exception", None)
        current = inner if isinstance(inner, BaseException) else (current.__cause__ or current.__context__)
    return None


def credential_unavailable(message: str) -> ClientAuthenticationError:
    """``azure.identity.CredentialUnavailableError(message)``, importing azure.identity only when an
    error is actually raised (importing it costs more than this whole package)."""
    from azure.identity import CredentialUnavailableError

    error: ClientAuthenticationError = CredentialUnavailableError(message=message)
    return scrubbed(error)
