"""``Retry-After``: what a service asked, read safely, and how long a caller may wait for it in a call.

A service that answers 429 or 503 says when to come back: seconds, an HTTP date, or (Azure's own
headers) milliseconds. azure-core's retry policy would sleep whatever it says, an hour or a year, and
raises a raw ``ValueError``/``OverflowError`` for garbage or ``1e400``. Here:

* :func:`retry_after` reads the headers into finite, non-negative seconds, or None (garbage is "no
  advice", never an exception); an absurd value is clipped to :data:`MAX_RETRY_AFTER`.
* :class:`CappedRetryPolicy` (and its async twin) retries in the call only when the wait asked is at
  most :data:`MAX_IN_CALL_WAIT` seconds; beyond that the answer goes back to the caller at once, whose
  typed error carries ``retry_after``, and the credential remembers the deadline (the policy's hold).
"""

from __future__ import annotations

import email.utils
import math
import time
from typing import Any, Mapping, Optional

from azure.core.pipeline.policies import AsyncRetryPolicy, RetryPolicy
from azure.core.pipeline.policies._retry import RetryPolicyBase

#: The longest ``Retry-After`` a caller waits for inside one call (azure-core's retry sleep).
MAX_IN_CALL_WAIT = 5.0
#: A longer ``Retry-After`` than this is read as this (a day): no answer makes us wait longer.
MAX_RETRY_AFTER = 86400.0


def _seconds(text: str, unit: float = 1.0) -> Optional[float]:
    """A header value as seconds (``unit`` seconds per number; a number may also be an HTTP date),
    bounded to [0, MAX_RETRY_AFTER]; None when it is neither."""
    text = text.strip()
    if not text or len(text) > 64:
        return None
    try:
        value = float(text) * unit
    except (ValueError, OverflowError):
        value = math.nan
    if math.isnan(value):
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when is None or when.tzinfo is None:
            return None
        value = when.timestamp() - time.time()
    return min(max(0.0, value), MAX_RETRY_AFTER)


def retry_after(headers: Mapping[str, Any]) -> Optional[float]:
    """Seconds the service asked us to wait (``Retry-After``, ``retry-after-ms``, ``x-ms-retry-after-ms``),
    bounded to [0, MAX_RETRY_AFTER]; None when it asked nothing readable."""
    lowered = {}
    try:
        for name, value in headers.items():
            if isinstance(name, str) and isinstance(value, str):
                lowered[name.lower()] = value
    except Exception:  # a hostile mapping: no advice
        return None
    for name, unit in (("retry-after", 1.0), ("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001)):
        found = _seconds(lowered[name], unit) if name in lowered else None
        if found is not None:
            return found
    return None


class _Capped(RetryPolicyBase):
    """What both retry policies share: a safe parse, and no in-call retry for a long Retry-After."""

    def get_retry_after(self, response: Any) -> Optional[float]:
        return retry_after(response.http_response.headers)

    def is_retry(self, settings: Any, response: Any) -> bool:
        if response.http_response.status_code >= 400:
            wait = retry_after(response.http_response.headers)
            if wait is not None and wait > MAX_IN_CALL_WAIT:
                return False  # the caller answers at once, saying when to come back
        return bool(super().is_retry(settings, response))


class CappedRetryPolicy(_Capped, RetryPolicy):  # type: ignore[type-arg]
    """azure-core's RetryPolicy that never sleeps longer than :data:`MAX_IN_CALL_WAIT` on a Retry-After."""


class AsyncCappedRetryPolicy(_Capped, AsyncRetryPolicy):  # type: ignore[type-arg]
    """The async twin of :class:`CappedRetryPolicy`."""


def when_text(seconds: float) -> str:
    """'in 60 s (at 10:01:00Z)': when to come back, for a message."""
    at = time.strftime("%H:%M:%SZ", time.gmtime(time.time() + seconds))
    return f"in {seconds:.0f} s (at {at})"
