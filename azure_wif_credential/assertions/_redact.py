"""Short, token-free excerpts of text a source did not write (HTTP bodies, a program's stderr)."""

from __future__ import annotations

import re

# Three base64url segments joined by dots, the first starting like a JSON object ("eyJ" = '{"'):
# the shape of every JWT/JWS. Anything shaped like that is replaced before text reaches a message.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# Long unbroken base64-ish runs (opaque bearer tokens) are replaced too; "/" ends a run, so paths and
# URLs stay readable.
_OPAQUE = re.compile(r"[A-Za-z0-9_\-+=.]{60,}")

REDACTED = "<redacted>"


def redact(text: str) -> str:
    """``text`` with token-shaped parts replaced by ``<redacted>``."""
    return _OPAQUE.sub(REDACTED, _JWT.sub(REDACTED, text))


def excerpt(text: str, limit: int = 300, *, from_end: bool = False) -> str:
    """``text`` on one line, token-shaped parts replaced, cut to ``limit`` characters.

    ``from_end`` keeps the end instead of the start (where programs write why they failed).
    """
    cleaned = " ".join(redact(text).split())
    if len(cleaned) <= limit:
        return cleaned
    if from_end:
        return "..." + cleaned[len(cleaned) - limit + 3 :].lstrip()
    return cleaned[: limit - 3].rstrip() + "..."
