"""The token policy: when a cached token is served, refreshed in the background, or waited for.

Pure decisions, no I/O, no threads, no clock of its own: the sync and the async credential both drive
this module (httpx's sans-IO lesson), so a rule changes in one place.

Windows for a token issued at ``issued`` that expires at ``expires_on``:

    issued ........ refresh_on ............ expires_on - mandatory ...... expires_on
    |---- FRESH ----|-------- ADVISORY --------|--------- MANDATORY ---------|
      serve it        serve it, and one            wait for the one refresh;
                      background refresh           its error is everyone's

A failed advisory refresh keeps the old token and is retried after a jittered exponential backoff.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field
from typing import NamedTuple, Optional, Tuple

from azure.core.credentials import AccessToken, AccessTokenInfo


class CacheKey(NamedTuple):
    """What makes two requests share a token. ``claims`` challenges are not part of it: they always
    reach Entra, and the token they bring replaces the entry (a CAE challenge means the old one is
    revoked)."""

    scopes: Tuple[str, ...]
    tenant_id: str
    enable_cae: bool


@dataclass(frozen=True)
class CachedToken:
    token: str = field(repr=False)
    expires_on: int
    refresh_on: int
    token_type: str = "Bearer"
    # What callers get, built once per token rather than once per cache hit.
    info: AccessTokenInfo = field(init=False, repr=False, compare=False)
    access_token: AccessToken = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        info = AccessTokenInfo(
            self.token, self.expires_on, token_type=self.token_type, refresh_on=self.refresh_on
        )
        object.__setattr__(self, "info", info)
        object.__setattr__(self, "access_token", AccessToken(self.token, self.expires_on))


class Action(enum.Enum):
    SERVE = "serve"  # fresh: return the cached token
    SERVE_AND_REFRESH = "serve_and_refresh"  # advisory: return it, and start the one background refresh
    SERVE_DURING_BACKOFF = "serve_during_backoff"  # advisory, but the last refresh failed recently
    WAIT = "wait"  # mandatory or no token: wait for (or start) the one refresh


@dataclass
class KeyState:
    """Everything the policy knows about one key. Mutated only by the functions below, under the
    shell's per-key lock (or on its event loop)."""

    token: Optional[CachedToken] = None
    failures: int = 0
    retry_at: float = 0.0
    refreshing: bool = False


@dataclass(frozen=True)
class RefreshPolicy:
    """The numbers behind the windows. Defaults per DESIGN.md; every one is overridable."""

    mandatory_window: float = 120.0  # seconds before expiry when callers must wait
    min_early: float = 300.0  # without refresh_in: refresh at least this long before expiry ...
    early_fraction: float = 1 / 6  # ... or this fraction of the lifetime, whichever is longer,
    latest_fraction: float = 0.5  # ... but not before this fraction of the lifetime has passed
    backoff_initial: float = 30.0
    backoff_max: float = 300.0

    def refresh_on(self, issued: float, expires_on: float, sts_refresh_on: Optional[float] = None) -> int:
        """When a token should be refreshed: exactly the STS's ``refresh_in`` when it sent one."""
        if sts_refresh_on is not None:
            return int(sts_refresh_on)
        lifetime = max(0.0, expires_on - issued)
        early = expires_on - max(self.min_early, lifetime * self.early_fraction)
        return int(max(early, issued + lifetime * self.latest_fraction))

    def decide(self, state: KeyState, now: float) -> Action:
        token = state.token
        # Never mandatory before refresh_on: a token shorter-lived than the window is still served
        # until then rather than refreshed on every call.
        if token is None or now >= max(token.refresh_on, token.expires_on - self.mandatory_window):
            return Action.WAIT
        if now < token.refresh_on:
            return Action.SERVE
        if now < state.retry_at:
            return Action.SERVE_DURING_BACKOFF
        return Action.SERVE_AND_REFRESH

    def backoff(self, failures: int, rand: Optional[float] = None) -> float:
        """Delay before retry number ``failures`` (1-based): 30 s, 60 s, ... capped at 5 min, with
        'equal jitter' (between half and all of it) so a fleet does not retry in step."""
        base = min(self.backoff_max, self.backoff_initial * (2.0 ** max(0, failures - 1)))
        r = random.random() if rand is None else rand
        return base / 2 + base / 2 * r


# State transitions, shared by both shells.


def begin_refresh(state: KeyState) -> bool:
    """Claim the key's one refresh. False when another caller already runs it."""
    if state.refreshing:
        return False
    state.refreshing = True
    return True


def refresh_succeeded(state: KeyState, token: CachedToken) -> None:
    state.token = token
    state.failures = 0
    state.retry_at = 0.0
    state.refreshing = False


def challenge_answered(state: KeyState, token: CachedToken) -> None:
    """A claims challenge's token replaces the entry (the old one may be revoked), without touching
    the bookkeeping of a refresh that may be in flight."""
    state.token = token


def refresh_failed(state: KeyState, policy: RefreshPolicy, now: float) -> float:
    """Record a failure (the old token stays). Returns the backoff delay until the next attempt."""
    state.failures += 1
    delay = policy.backoff(state.failures)
    state.retry_at = now + delay
    state.refreshing = False
    return delay


def token_from_result(
    policy: RefreshPolicy, issued: float, expires_in: float, sts_refresh_on: Optional[float], token: str
) -> CachedToken:
    expires_on = int(issued + expires_in)
    return CachedToken(
        token=token, expires_on=expires_on, refresh_on=policy.refresh_on(issued, expires_on, sts_refresh_on)
    )
