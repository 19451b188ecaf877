"""Unverified JWT claims: what an assertion says about itself, for logs, hints and reuse decisions.

Nothing here checks a signature: Entra does that. These helpers only *read* a token so we can tell the
user which issuer, subject and audience they presented, and never print the token itself.
"""

from __future__ import annotations

import time
from typing import Any, Mapping


def unverified_claims(token: str) -> dict[str, Any]:
    """The token's claims without verification; ``{}`` when it is not a decodable JWT."""
    import jwt  # lazily: PyJWT imports cryptography

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims if isinstance(claims, dict) else {}


def format_time(value: Any) -> str:
    """A claim timestamp as UTC text with its distance from now (for hints and logs)."""
    if not isinstance(value, (int, float)):
        return "absent"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value))
    return f"{stamp} ({int(value - time.time()):+d}s from now)"


def describe_assertion(claims: Mapping[str, Any]) -> str:
    """``iss=... sub=... aud=... exp=...`` — safe to log: claims only, never the token."""
    if not claims:
        return "assertion is not a readable JWT"
    aud = claims.get("aud")
    aud_text = ",".join(str(a) for a in aud) if isinstance(aud, list) else str(aud)
    return f"iss={claims.get('iss')!s} sub={claims.get('sub')!s} aud={aud_text} exp={format_time(claims.get('exp'))}"
