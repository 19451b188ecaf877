"""What callers and assertion sources hand a credential, checked: scopes, claims, request options,
unknown keywords, and the assertion itself (never shown, registered as a secret)."""

from __future__ import annotations

import contextlib
import inspect
import json
import re
from typing import Any, Iterator, Mapping, Optional, Tuple

from azure.core.exceptions import ClientAuthenticationError

from ._errors import AssertionSourceError, scrubbed
from ._redact import error_text, get_logger, remember, safe_text, without_secret_cause

_LOGGER = get_logger("azure_wif_credential")
#: An assertion is a compact JWS/JWE: base64url segments joined by dots, and small.
MAX_ASSERTION_LENGTH = 64 * 1024
_COMPACT_JWT = re.compile(r"[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]*){2,4}")
MAX_CLAIMS_LENGTH = 16 * 1024


def request_options(options: Optional[Mapping[str, Any]]) -> Tuple[Optional[str], Optional[str], bool]:
    """``get_token_info``'s options as (claims, tenant_id, enable_cae)."""
    if options is None:
        return None, None, False
    if not isinstance(options, Mapping):
        raise TypeError(f"options must be a mapping (TokenRequestOptions), not {type(options).__name__}")
    return options.get("claims"), options.get("tenant_id"), bool(options.get("enable_cae"))


def check_scope(scope: Any) -> None:
    if not isinstance(scope, str):
        raise TypeError(f"scopes must be strings, got {type(scope).__name__}")
    if not scope or len(scope) > 2048 or any(c.isspace() or not c.isprintable() for c in scope):
        raise ValueError(
            f"Invalid scope {scope[:80]!r}: a scope is one resource with '/.default', e.g. "
            "'https://management.azure.com/.default' (no spaces or control characters; pass several "
            "scopes as separate arguments)."
        )


def checked_claims(claims: Any) -> Optional[str]:
    """A claims challenge as MSAL needs it: a JSON object (text), or None for no challenge."""
    if claims is None or claims == "":
        return None
    if not isinstance(claims, str):
        raise TypeError(
            f"claims must be a JSON string (the decoded CAE challenge), not {type(claims).__name__}"
        )
    if len(claims) > MAX_CLAIMS_LENGTH:
        raise ValueError(f"claims is {len(claims)} characters long; a CAE challenge is a small JSON object")
    try:
        document = json.loads(claims)
    except (ValueError, RecursionError):
        raise ValueError(
            "claims is not JSON: pass the claims challenge decoded from the WWW-Authenticate header's "
            'base64 `claims` parameter, e.g. \'{"access_token": {"nbf": {"essential": true, "value": "..."}}}\''
        ) from None
    if not isinstance(document, dict):
        raise ValueError(f"claims must be a JSON object, not a JSON {type(document).__name__}")
    return claims


def checked_assertion(value: Any) -> str:
    """The source's answer if it is an assertion (registered as a secret), else an error that says what
    came back without showing it."""
    if inspect.iscoroutine(value):
        value.close()  # a coroutine function given to the sync credential: never awaited, so close it
        raise AssertionSourceError(
            "The assertion source returned a coroutine: the sync FederatedTokenCredential needs a "
            "plain callable (use azure_wif_credential.aio.FederatedTokenCredential for async sources)."
        )
    if isinstance(value, bytes):
        raise AssertionSourceError(
            "The assertion source returned bytes; it must return the assertion JWT as a str."
        )
    if not isinstance(value, str) or not value.strip():
        raise AssertionSourceError(
            f"The assertion source returned {type(value).__name__}"
            + (" (empty)" if isinstance(value, str) else "")
            + "; it must return the assertion JWT as a non-empty string."
        )
    remember(value)
    assertion = value.strip()
    if len(assertion) > MAX_ASSERTION_LENGTH:
        raise AssertionSourceError(
            f"The assertion source returned {len(assertion)} characters; an assertion is a JWT of "
            f"at most {MAX_ASSERTION_LENGTH} characters."
        )
    if not _COMPACT_JWT.fullmatch(assertion):
        bad = next((c for c in assertion if not (c.isalnum() and c.isascii()) and c not in "-_."), None)
        what = f"a character {bad!r} that a JWT cannot hold" if bad is not None else "too few '.' segments"
        raise AssertionSourceError(
            f"The assertion source returned a string that is not a JWT ({what}); it must return the "
            "compact JWT itself (header.payload.signature), without quotes, 'Bearer ' or JSON around it."
        )
    return assertion


@contextlib.contextmanager
def assertion_errors() -> Iterator[None]:
    """Around a call of the assertion source: CredentialUnavailableError and our own errors pass;
    anything else (a raw FileNotFoundError, a KeyError...) becomes a ClientAuthenticationError whose
    message is redacted, with the original chained only when its own text shows no secret."""
    try:
        yield
    except ClientAuthenticationError as error:  # CredentialUnavailableError is one too
        if without_secret_cause(error) is None:  # a user source's error that quotes a secret
            from azure.identity import CredentialUnavailableError

            kind = CredentialUnavailableError if isinstance(error, CredentialUnavailableError) else None
            text = safe_text(error.message if isinstance(error.message, str) else error)
            raise (scrubbed(kind(message=text)) if kind else AssertionSourceError(text)) from None
        raise
    except Exception as error:
        text = error_text(error, limit=200)
        shown = f": {text}" if text != type(error).__name__ else ""
        raise AssertionSourceError(
            f"The assertion source failed with {type(error).__name__}{shown}"
        ) from without_secret_cause(error)


_IGNORED_GET_TOKEN_KWARGS: set[str] = set()


def warn_ignored(kwargs: Mapping[str, Any]) -> None:
    """Unknown get_token keywords are logged (once each, as a WARNING), as azure-identity tolerates them."""
    for name in kwargs:
        if name not in _IGNORED_GET_TOKEN_KWARGS:
            _IGNORED_GET_TOKEN_KWARGS.add(name)
            _LOGGER.warning("get_token ignores the keyword argument %r", name)
