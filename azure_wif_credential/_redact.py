"""Redaction: the one place that decides what of a text may leave the library.

Every message, log line, ``repr`` and CLI line built from text we did not write (Entra's answers, CI
endpoints' answers, a program's stderr, a user callable's exception) passes through :func:`redact`,
which removes

* the exact secrets this process has handled (assertions, access tokens, CI request tokens, command
  arguments marked secret): each is registered with :func:`remember` where it enters the library, and
  removed wherever it is echoed back, whatever its shape;
* anything shaped like a JWT, and long opaque base64-like runs (bearer tokens we never saw).

The registry is process-wide and bounded (the most recent secrets); it costs nothing on the cache-hit
path, which never builds a message.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import OrderedDict
from typing import Optional, Union
from urllib.parse import parse_qsl, quote

REDACTED = "<redacted>"

# Three base64url segments joined by dots, the first starting like a JSON object ("eyJ" = '{"'):
# the shape of every JWT/JWS.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)*")
# Long unbroken base64-ish runs (opaque bearer tokens); "/" ends a run, so paths and URLs stay readable.
_OPAQUE = re.compile(r"[A-Za-z0-9_\-+=.%]{60,}")
_MIN_SECRET = 8  # shorter values would redact ordinary words
_MAX_SECRETS = 512

#: Form and JSON fields whose values are secrets.
SECRET_FIELDS = frozenset(
    {"client_assertion", "assertion", "client_secret", "access_token", "refresh_token", "id_token", "value"}
)


class _Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: OrderedDict[str, None] = OrderedDict()

    def add(self, value: str) -> None:
        variants = {value, quote(value, safe=""), json.dumps(value)[1:-1]}
        with self._lock:
            for variant in variants:
                if len(variant) >= _MIN_SECRET:
                    self._values[variant] = None
                    self._values.move_to_end(variant)
            while len(self._values) > _MAX_SECRETS:
                self._values.popitem(last=False)

    def snapshot(self) -> list[str]:
        with self._lock:
            values = list(self._values)
        return sorted(values, key=len, reverse=True)  # longest first: a secret containing another


_SECRETS = _Registry()


def remember(*values: Optional[str]) -> None:
    """Register secrets (the ones too short to matter are ignored) so no later text shows them."""
    for value in values:
        if isinstance(value, str) and value:
            _SECRETS.add(value)
            stripped = value.strip()
            if stripped != value:
                _SECRETS.add(stripped)


_PIECE = re.compile(r"[A-Za-z0-9_\-]{12,}")


def remember_opaque(value: Optional[str]) -> None:
    """Register an opaque secret *and every long run of it* between separators (an AWS session token
    is base64 with '/' and '+' in it: a far side that echoes a part of it shows no part)."""
    if isinstance(value, str) and value:
        remember(value, *_PIECE.findall(value))


def redact(text: str) -> str:
    """``text`` with every known secret and every token-shaped part replaced by ``<redacted>``."""
    if not isinstance(text, str):
        text = str(text)
    for secret in _SECRETS.snapshot():
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _OPAQUE.sub(REDACTED, _JWT.sub(REDACTED, text))


def safe_text(value: object) -> str:
    """``str(value)`` redacted; never raises (a hostile ``__str__`` gives its type's name)."""
    try:
        text = str(value)
    except Exception:
        return f"<{type(value).__name__}>"
    return redact(text)


def first_line(text: str, limit: int = 300) -> str:
    """The first non-empty line of ``text``, redacted and cut to ``limit`` characters."""
    for line in redact(text).splitlines():
        if line.strip():
            return _cut(line.strip(), limit)
    return ""


def error_text(error: BaseException, limit: int = 300) -> str:
    """An exception's first line, redacted; its type's name when it has no text."""
    return first_line(safe_text(error), limit) or type(error).__name__


def excerpt(text: str, limit: int = 300, *, from_end: bool = False) -> str:
    """``text`` on one line, redacted, cut to ``limit`` characters (``from_end``: keep the end)."""
    cleaned = " ".join(redact(text).split())
    if len(cleaned) <= limit:
        return cleaned
    if from_end:
        return "..." + cleaned[len(cleaned) - limit + 3 :].lstrip()
    return _cut(cleaned, limit)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def redact_body(body: Union[str, bytes, None]) -> str:
    """A form or JSON body for a log line: secret fields' values replaced, the rest redacted."""
    if body is None:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(stripped)
        except ValueError:
            return f"<unparseable JSON body, {len(text)} characters>"
        if isinstance(data, dict):
            return redact(json.dumps({k: REDACTED if k in SECRET_FIELDS else v for k, v in data.items()}))
        return f"<JSON {type(data).__name__}>"
    pairs = parse_qsl(text, keep_blank_values=True)
    if not pairs and stripped:
        return f"<unparseable body, {len(text)} characters>"
    return redact("&".join(f"{k}={REDACTED if k in SECRET_FIELDS else v}" for k, v in pairs))


def without_secret_cause(error: BaseException) -> Optional[BaseException]:
    """``error`` if its text shows no secret (fit to chain as a cause), else None."""
    text = safe_text(error)
    try:
        raw = str(error)
    except Exception:
        return None
    return error if text == raw else None


class RedactingFilter(logging.Filter):
    """Renders a record's message redacted (and drops secret-bearing exception text) before any
    handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and without_secret_cause(exc) is None:
            record.exc_info = None
            record.exc_text = None
        return True


_FILTER = RedactingFilter()


def guard_loggers(prefix: str) -> None:
    """Attach the redacting filter to every logger under ``prefix`` that exists now (a library whose
    own log lines may quote what a far side echoed, e.g. azure-identity's managed-identity clients)."""
    for name in list(logging.Logger.manager.loggerDict):
        if name == prefix or name.startswith(prefix + "."):
            get_logger(name)


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with the redacting filter attached (once)."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
