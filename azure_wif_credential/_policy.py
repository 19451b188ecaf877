"""The token policy: when a cached token is served, refreshed in the background, or waited for.

Pure decisions, no I/O, no threads, no clock of its own: the sync and the async credential both drive
this module (httpx's sans-IO lesson), so a rule changes in one place.

Windows for a token issued at ``issued`` that expires at ``expires_on``:

    issued ........ refresh_on ............ expires_on - mandatory ...... expires_on
    |---- FRESH ----|-------- ADVISORY --------|--------- MANDATORY ---------|
      serve it        serve it, and one            wait for the one refresh;
                      background refresh           its error is everyone's

A failed advisory refresh keeps the old token and is retried after a jittered exponential backoff.

After any failed refresh the key is *held* (a negative cache, as MSAL's throttled client does): for the
``Retry-After`` the service sent (up to ``retry_after_max``), else for a short jittered delay that grows
with consecutive failures (``hold_initial`` .. ``hold_max``). While it is held no request leaves for that
key: a caller whose token has not expired is served it, also in the mandatory window; a caller without
one gets the last error at once, saying when the next attempt is allowed. So a key costs a failing
service a few requests per second at most, whatever the call rate.

The lifecycle of a key's refresh (its state, lease, settling and what waiters get) is ``_refresh``'s;
this module decides and computes the delays.
"""

from __future__ import annotations

import enum
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional

from ._tokens import CachedToken

if TYPE_CHECKING:
    from ._refresh import KeyState


class Action(enum.Enum):
    SERVE = "serve"  # fresh: return the cached token
    SERVE_AND_REFRESH = "serve_and_refresh"  # advisory: return it, and start the one background refresh
    SERVE_DURING_BACKOFF = "serve_during_backoff"  # the last refresh failed recently; the token is valid
    WAIT = "wait"  # mandatory or no token: wait for (or start) the one refresh
    FAIL = "fail"  # no valid token and the key is held after a failure: the last error, at once


@dataclass(frozen=True)
class RefreshPolicy:
    """The numbers behind the windows. Defaults per DESIGN.md; every one is overridable."""

    mandatory_window: float = 120.0  # seconds before expiry when callers must wait
    min_early: float = 300.0  # without refresh_in: refresh at least this long before expiry ...
    early_fraction: float = 1 / 6  # ... or this fraction of the lifetime, whichever is longer,
    latest_fraction: float = 0.5  # ... but not before this fraction of the lifetime has passed
    backoff_initial: float = 30.0
    backoff_max: float = 300.0
    #: The hold after a failed refresh without Retry-After: 1 s, 2 s, ... at most 30 s (jittered).
    hold_initial: float = 1.0
    hold_max: float = 30.0
    #: The longest Retry-After a key is held for (a longer one is read as this).
    retry_after_max: float = 300.0
    #: How long one refresh may hold its key; waiters give up then, and the next caller takes over.
    refresh_timeout: float = 300.0
    #: The clock of every window decision (seconds since the epoch): a seam for tests and simulations.
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)

    def refresh_on(self, issued: float, expires_on: float, sts_refresh_on: Optional[float] = None) -> int:
        """When a token should be refreshed: exactly the STS's ``refresh_in`` when it sent one."""
        if sts_refresh_on is not None:
            return int(sts_refresh_on)
        lifetime = max(0.0, expires_on - issued)
        early = expires_on - max(self.min_early, lifetime * self.early_fraction)
        return int(max(early, issued + lifetime * self.latest_fraction))

    def fresh(self, token: CachedToken, now: float) -> bool:
        """FRESH: served as it is, nothing else to do (the cache-hit path asks only this)."""
        return now < token.refresh_on

    def mandatory(self, token: CachedToken, now: float) -> bool:
        """In the mandatory window (never before refresh_on: a token shorter-lived than the window
        is still served until then rather than refreshed on every call)."""
        return now >= max(token.refresh_on, token.expires_on - self.mandatory_window)

    def decide(self, state: KeyState, now: float) -> Action:
        token = state.token
        if token is None or self.mandatory(token, now):
            if now < state.held_until:
                if token is not None and now < token.expires_on:
                    return Action.SERVE_DURING_BACKOFF
                return Action.FAIL
            return Action.WAIT
        if self.fresh(token, now):
            return Action.SERVE
        if now < state.retry_at:
            return Action.SERVE_DURING_BACKOFF
        return Action.SERVE_AND_REFRESH

    def backoff(self, failures: int, rand: Optional[float] = None) -> float:
        """Delay before retry number ``failures`` (1-based): 30 s, 60 s, ... capped at 5 min, with
        'equal jitter' (between half and all of it) so a fleet does not retry in step."""
        return _equal_jitter(_doubling(self.backoff_initial, self.backoff_max, failures), rand)

    def hold(self, failures: int, rand: Optional[float] = None) -> float:
        """How long a key is held after failure number ``failures`` when the service named no
        Retry-After: 1 s, 2 s, 4 s, ... capped at ``hold_max``, with equal jitter."""
        return _equal_jitter(_doubling(self.hold_initial, self.hold_max, failures), rand)

    def wait_left(self, state: KeyState, now: float) -> float:
        """How long a waiter may still wait for the current refresh (at least a little)."""
        return max(0.05, state.refresh_started + self.refresh_timeout - now)


def _doubling(initial: float, cap: float, failures: int) -> float:
    """``initial`` doubled per failure after the first, capped (bounded: 2**32 times anything passes
    the cap)."""
    exponent = min(max(0, failures - 1), 32)
    return min(cap, initial * (2.0**exponent))


def _equal_jitter(base: float, rand: Optional[float]) -> float:
    r = random.random() if rand is None else rand
    return base / 2 + base / 2 * r


def token_from_result(
    policy: RefreshPolicy, issued: float, expires_in: float, sts_refresh_on: Optional[float], token: str
) -> CachedToken:
    expires_on = int(issued + expires_in)
    return CachedToken(
        token=token, expires_on=expires_on, refresh_on=policy.refresh_on(issued, expires_on, sts_refresh_on)
    )
