"""Entra's answers, checked where the bytes arrive: before MSAL parses them or the policy trusts them.

A token answer is a token only when it is HTTP 200, a UTF-8 JSON object whose ``access_token`` is a
non-empty string of header-safe characters, ``expires_in`` a positive, finite number of seconds
(int or numeric string) of at most :data:`MAX_EXPIRES_IN`, ``token_type`` Bearer where present,
``refresh_in`` (if present) positive and below ``expires_in``, and the token not already expired.
An error answer is an Entra error document (a JSON object) or it is described, never parsed further.
Everything else raises :class:`TokenExchangeError` saying what was wrong, with ``retryable`` set.

Messages never quote a 200 answer (it may hold a token) and quote other answers only redacted.
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlsplit

from .._clouds import same_cloud_hosts
from .._errors import TokenExchangeError
from .._pipeline import Answer
from .._redact import excerpt, remember
from .._retry_after import retry_after, when_text

#: No Entra token lives a month; a larger ``expires_in`` is a broken answer, not a token.
MAX_EXPIRES_IN = 31 * 24 * 3600
MAX_TOKEN_LENGTH = 100_000
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")  # visible ASCII: what may follow "Bearer " in a header
_ID = re.compile(r"[0-9A-Za-z\-]{1,100}")


class EntraErrorAnswer(Exception):
    """A well-formed Entra error document (non-200); the exchange turns it into a TokenExchangeError
    with a hint from the assertion's claims."""

    def __init__(self, status: int, document: Dict[str, Any], retry_after: Optional[float] = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.document = document
        self.retry_after = retry_after


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _decode_object(answer: Answer) -> Tuple[Optional[Dict[str, Any]], str]:
    """The body as a JSON object, or None and what was wrong with it."""
    if not answer.body.strip():
        return None, "an empty body"
    try:
        text = answer.body.decode("utf-8")
    except UnicodeDecodeError:
        return None, "a body that is not UTF-8 text"
    try:
        document = json.loads(text, parse_constant=lambda name: None)
    except (ValueError, RecursionError):
        kind = answer.content_type.split(";")[0].strip() or "no Content-Type"
        return None, f"a body that is not JSON ({kind}, {len(answer.body)} bytes)"
    if not isinstance(document, dict):
        return None, f"JSON that is not an object (a {type(document).__name__})"
    return document, ""


def seconds(value: Any) -> Optional[float]:
    """A number of seconds as Entra sends it (int, float or numeric string); None if it is none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not re.fullmatch(r"\s*\d{1,12}(\.\d{1,9})?\s*", value):
            return None
        value = float(value)
    if not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def check_token_answer(answer: Answer, authority: str, now: Optional[float] = None) -> str:
    """The token answer re-encoded for MSAL (numbers normalized), or TokenExchangeError."""
    where = f"Microsoft Entra ID at {authority}"
    document = _ok_document(answer, authority, "answered HTTP 200")
    token = document.get("access_token")
    if not isinstance(token, str) or not token:
        raise _malformed(where, "answered HTTP 200 without an access_token string", 200)
    remember(token)
    if len(token) > MAX_TOKEN_LENGTH or not _HEADER_SAFE.fullmatch(token):
        raise _malformed(where, "answered HTTP 200 with an access_token that is not a bearer token", 200)
    token_type = document.get("token_type")
    if token_type is not None and (not isinstance(token_type, str) or token_type.lower() != "bearer"):
        raise _malformed(where, f"answered token_type {str(token_type)[:20]!r}, not Bearer", 200)
    expires_in = seconds(document.get("expires_in"))
    if expires_in is None or not 0 < expires_in <= MAX_EXPIRES_IN:
        raise _malformed(
            where,
            f"answered HTTP 200 with expires_in {_shown(document.get('expires_in'))}: it must be a positive "
            f"number of seconds up to {MAX_EXPIRES_IN}",
            200,
        )
    refresh_in = None
    if document.get("refresh_in") is not None:
        refresh_in = seconds(document["refresh_in"])
        if refresh_in is None or not 0 < refresh_in < expires_in:
            raise _malformed(
                where,
                f"answered refresh_in {_shown(document['refresh_in'])}: it must be a positive number of "
                "seconds below expires_in",
                200,
            )
    now = time.time() if now is None else now
    expires_on = seconds(document.get("expires_on"))
    if document.get("expires_on") is not None and (expires_on is None or expires_on <= now):
        raise _malformed(where, "answered a token that has already expired (expires_on)", 200)
    normalized = dict(document)
    normalized["expires_in"] = max(1, int(expires_in))
    if refresh_in is not None:
        normalized["refresh_in"] = max(1, int(refresh_in))
    normalized.pop("expires_on", None)
    return json.dumps(normalized)


def rejected_error_answer(answer: Answer, authority: str) -> Exception:
    """What a non-200 answer means: an :class:`EntraErrorAnswer` for an Entra error document, else a
    TokenExchangeError describing the answer."""
    where = f"Microsoft Entra ID at {authority}"
    status = answer.status
    if 300 <= status < 400:
        location = answer.headers.get("Location") or answer.headers.get("location") or ""
        target = urlsplit(location).netloc if location else "nowhere"
        return TokenExchangeError(
            f"{where} answered HTTP {status}, a redirect to {target!r}, instead of a token: the authority "
            "host is wrong or a proxy intercepts the request. Check the authority (AZURE_AUTHORITY_HOST).",
            status_code=status,
            retryable=False,
        )
    document, problem = _decode_object(answer)
    wait = retry_after(answer.headers) if _retryable(status) else None
    if document is not None and ("error" in document or "error_description" in document):
        return EntraErrorAnswer(status, sanitized_error(document), wait)
    if document is not None:
        problem = "a JSON object without an OAuth error"
    text = excerpt(answer.body.decode("utf-8", "replace"), 160) if answer.body else ""
    later = f"; try again {when_text(wait)}, as it asked." if wait is not None else "; try again later."
    return TokenExchangeError(
        f"{where} answered HTTP {status} {answer.reason}".rstrip()
        + f" with {problem}"
        + (f": {text}" if text and document is None else "")
        + (later if _retryable(status) else "."),
        status_code=status,
        retryable=_retryable(status),
        retry_after=wait,
    )


def sanitized_error(document: Dict[str, Any]) -> Dict[str, Any]:
    """An Entra error document with every field of the expected type (or dropped), texts redacted."""
    clean: Dict[str, Any] = {}
    error = document.get("error")
    clean["error"] = excerpt(error, 100) if isinstance(error, str) and error.strip() else "unknown_error"
    description = document.get("error_description")
    clean["error_description"] = excerpt(description, 2000) if isinstance(description, str) else ""
    codes = document.get("error_codes")
    if isinstance(codes, list):
        clean["error_codes"] = [c for c in codes if isinstance(c, int) and not isinstance(c, bool)][:20]
    else:
        clean["error_codes"] = []
        if codes is not None:
            clean["malformed"] = f"error_codes was a {type(codes).__name__}, not a list"
    for name in ("correlation_id", "trace_id"):
        value = document.get(name)
        if isinstance(value, str) and _ID.fullmatch(value):
            clean[name] = value
    return clean


def check_discovery_answer(answer: Answer, url: str, authority: str) -> None:
    """A discovery (GET) answer MSAL may parse: 200 with a JSON object whose endpoints stay on the
    host that was asked, or on a documented alias host of the same Entra cloud (a document fetched from
    login.windows.net names login.microsoftonline.com); a custom authority (ADFS, the sandbox, a proxy)
    keeps its own host only. A hostile document must not send the assertion anywhere else."""
    where = f"Microsoft Entra ID at {authority}"
    document = _ok_document(answer, authority, "answered its discovery request")
    parts_asked = urlsplit(url)
    host = parts_asked.netloc.lower()
    allowed = {host} if parts_asked.port is not None else set(same_cloud_hosts(host))
    for name in ("token_endpoint", "authorization_endpoint"):
        endpoint = document.get(name)
        if endpoint is None:
            continue
        parts = urlsplit(endpoint) if isinstance(endpoint, str) else None
        if parts is None or parts.scheme != "https" or parts.netloc.lower() not in allowed:
            raise _malformed(
                where,
                f"answered a discovery document whose {name} is not an https URL on {host}"
                + (" or its cloud's documented hosts" if len(allowed) > 1 else ""),
                200,
            )


def _ok_document(answer: Answer, authority: str, what: str) -> Dict[str, Any]:
    """The JSON object of a 200 answer; any other answer raises, saying what it was."""
    if answer.status != 200:
        raise rejected_error_answer(answer, authority)
    document, problem = _decode_object(answer)
    if document is None:
        raise _malformed(f"Microsoft Entra ID at {authority}", f"{what} with {problem}", 200)
    return document


def _malformed(where: str, what: str, status: int) -> TokenExchangeError:
    return TokenExchangeError(
        f"{where} {what}; this is not a valid token answer (a proxy or a faulty service in between?).",
        status_code=status,
        retryable=True,
    )


def _shown(value: Any) -> str:
    """A field's value for a message: numbers and short strings as they are, the rest by type."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    if isinstance(value, str) and len(value) <= 24:
        return repr(excerpt(value, 24))
    return f"of type {type(value).__name__}" if value is not None else "missing"
