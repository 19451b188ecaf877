"""Unverified JWT claims: what an assertion says about itself, for logs, hints and reuse decisions.

Nothing here checks a signature: Entra does that. These helpers only *read* a token so we can tell the
user which issuer, subject and audience they presented, and never print the token itself.
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Optional


def unverified_claims(token: str) -> dict[str, Any]:
    """The token's claims without verification; ``{}`` when it is not a decodable JWT."""
    import jwt  # lazily: PyJWT imports cryptography

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except Exception:  # PyJWTError, or anything a hostile token provokes: it is simply not readable
        return {}
    return claims if isinstance(claims, dict) else {}


def format_time(value: Any, now: Optional[float] = None) -> str:
    """A timestamp for people: ``2026-12-01T21:30:00Z (in 59 min)``, ``... (3 min ago)``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "absent"
    now = time.time() if now is None else now
    try:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value))
        delta = int(value - now)
    except (OverflowError, ValueError, OSError):  # NaN, infinity, or beyond the calendar
        return f"{value!r} (not a time)"
    size = abs(delta)
    amount = f"{size} s" if size < 120 else f"{size // 60} min" if size < 7200 else f"{size // 3600} h"
    return f"{stamp} ({'in ' + amount if delta >= 0 else amount + ' ago'})"


def claim_text(value: Any, limit: int = 200) -> str:
    """A claim for a message: its text, on one line, cut to ``limit`` characters."""
    text = ",".join(str(a) for a in value) if isinstance(value, list) else str(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_assertion(claims: Mapping[str, Any]) -> str:
    """``iss=... sub=... aud=... exp=...`` — safe to log: claims only, never the token."""
    if not claims:
        return "assertion is not a readable JWT"
    return (
        f"iss={claim_text(claims.get('iss'))} sub={claim_text(claims.get('sub'))} "
        f"aud={claim_text(claims.get('aud'))} exp={format_time(claims.get('exp'))}"
    )
