"""The headers Entra's token service (ESTS) puts on every answer of its endpoints, as recorded:
no caching (``Cache-Control``, ``Pragma``, ``Expires: -1``), HSTS, ``nosniff``, a P3P policy, the
serving ESTS build (``x-ms-ests-server``), client telemetry (``x-ms-clitelem``: the AADSTS code of an
error, 0 on success) and the request id; the caller's ``client-request-id`` is echoed by the server."""

from __future__ import annotations

#: The endpoints that are Entra's (ESTS), by their record names.
ESTS_ENDPOINTS = frozenset({"token", "openid-configuration", "keys", "instance-discovery"})
ESTS_SERVER = "2.1.21874.5 - SANDBOX ProdSlices"


def ests_headers(error_code: int | None) -> tuple[tuple[str, str], ...]:
    """ESTS's headers for an answer (``error_code``: the AADSTS code of an error answer)."""
    return (
        ("Expires", "-1"),
        ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
        ("X-Content-Type-Options", "nosniff"),
        ("P3P", 'CP="DSP CUR OTPi IND OTRi ONL FIN"'),
        ("x-ms-ests-server", ESTS_SERVER),
        ("x-ms-clitelem", f"1,{error_code or 0},0,,"),
    )
