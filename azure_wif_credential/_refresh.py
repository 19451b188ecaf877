"""A key's refresh lifecycle, in one place: the key's state, the numbered *refresh lease* a refresh
holds (begin, finish, settle), the hold after a failure, the pending result its waiters share, and
what a waiter gets when the refresh fails, is interrupted or outlives its lease.

Every refresh that begins ends: :func:`begin_refresh` hands out a numbered lease, :func:`settle`
(through :func:`finish_refresh`, which cannot fail) ends it whatever happened, and a lease older than
``refresh_timeout`` may be taken over, so a refresh stuck in a hung source can never hold a key for
good. (The *cache lock*, single-flight among everyone who shares a token cache, is ``_cache``'s.)
"""

from __future__ import annotations

import contextlib
import math
from concurrent.futures import Future
from typing import Any, Callable, ContextManager, Optional

from ._errors import AssertionSourceError, TokenExchangeError, credential_unavailable
from ._policy import RefreshPolicy
from ._redact import error_text, get_logger, safe_text
from ._tokens import CachedToken, CacheKey

_LOGGER = get_logger("azure_wif_credential")


class KeyState:
    """Everything the policy knows about one key. Mutated only by the functions below, under the
    key's lock. (A plain class with ``__slots__``: the cache-hit path reads ``token`` on every call.)"""

    __slots__ = (
        "failures",
        "generation",
        "held_until",
        "last_error",
        "refresh_started",
        "refreshing",
        "retry_at",
        "token",
    )

    def __init__(
        self,
        token: Optional[CachedToken] = None,
        failures: int = 0,
        retry_at: float = 0.0,
        refreshing: bool = False,
        refresh_started: float = 0.0,  # when the current lease began
        generation: int = 0,  # the number of the current (or last) lease
    ) -> None:
        self.token = token
        self.failures = failures
        self.retry_at = retry_at
        self.refreshing = refreshing
        self.refresh_started = refresh_started
        self.generation = generation
        #: After a failure: no request for this key before then (Retry-After, or the short hold) ...
        self.held_until = 0.0
        #: ... and what callers without a valid token get meanwhile.
        self.last_error: Optional[BaseException] = None

    def __repr__(self) -> str:
        return (
            f"KeyState(token={'<token>' if self.token else None}, failures={self.failures}, "
            f"retry_at={self.retry_at}, refreshing={self.refreshing}, generation={self.generation})"
        )


def _delay(compute: Callable[[], float], fallback: float) -> float:
    """A delay from a (possibly user-subclassed) policy method: finite and non-negative, else ``fallback``."""
    try:
        delay = float(compute())
    except Exception:
        return fallback
    return delay if math.isfinite(delay) and delay >= 0 else fallback


def asked_wait(error: Optional[BaseException]) -> Optional[float]:
    """The Retry-After an error carries (seconds, finite, >= 0), or None."""
    wait = getattr(error, "retry_after", None)
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not math.isfinite(wait) or wait < 0:
        return None
    return float(wait)


def begin_refresh(state: KeyState, policy: RefreshPolicy, now: float) -> Optional[int]:
    """Claim the key's one refresh: the lease's number, or None while another caller holds a live one.
    A lease older than ``refresh_timeout`` is taken over (its refresh hangs)."""
    if state.refreshing and now < state.refresh_started + policy.refresh_timeout:
        return None
    state.generation += 1
    state.refreshing = True
    state.refresh_started = now
    return state.generation


def finish_refresh(
    state: KeyState,
    generation: int,
    policy: RefreshPolicy,
    now: float,
    token: Optional[CachedToken],
    *,
    counted: bool = True,
    error: Optional[BaseException] = None,
) -> float:
    """Settle lease ``generation`` with its token (success) or None (failure, ``error``; ``counted=False``
    for a cancellation, which starts no backoff or hold). Returns the delay before the next attempt (0
    after a success). Cannot fail: the arithmetic is bounded, and the key is free afterwards whatever
    happened."""
    current = generation == state.generation
    if current:
        state.refreshing = False
    if token is not None:
        if current or state.token is None or token.expires_on > state.token.expires_on:
            state.token = token
        if current:
            state.failures = 0
            state.retry_at = state.held_until = 0.0
            state.last_error = None
        return 0.0
    if not current or not counted:
        return 0.0
    failures = state.failures = min(state.failures + 1, 1 << 30)
    hold = _delay(lambda: policy.hold(failures), policy.hold_max)
    wait = asked_wait(error)
    if wait is not None:
        hold = max(hold, min(wait, _delay(lambda: policy.retry_after_max, 300.0)))
    delay = hold
    token = state.token
    if token is not None and now < token.expires_on:  # a valid token is served meanwhile: no hurry
        backoff = _delay(lambda: policy.backoff(failures), policy.backoff_max)
        if policy.mandatory(token, now):  # ... but try again before it expires
            hold = delay = max(hold, min(backoff, (token.expires_on - now) / 2))
        else:
            delay = max(hold, backoff)
    state.held_until = now + hold
    state.last_error = error
    state.retry_at = now + delay
    return delay


def challenge_answered(state: KeyState, token: CachedToken) -> None:
    """A claims challenge's token replaces the entry (the old one may be revoked), without touching
    the bookkeeping of a refresh that may be in flight."""
    state.token = token


def usable_stored(
    policy: RefreshPolicy, state: KeyState, stored: Optional[CachedToken], now: float
) -> Optional[CachedToken]:
    """A token read from the token cache, when it saves an exchange: newer than the one in memory
    and still fresh (someone sharing the cache refreshed it). It becomes the key's token."""
    if stored is None or not policy.fresh(stored, now):
        return None
    if state.token is not None and stored.expires_on <= state.token.expires_on:
        return None
    return stored


class Pending(Future):  # type: ignore[type-arg]
    """The outcome of one refresh, shared by its waiters on any thread or event loop. It cannot be
    cancelled (a waiter that gives up stops waiting; the refresh goes on for the others). ``alive``
    says whether whatever runs the refresh still can finish it (an event loop that was closed cannot)."""

    def __init__(self) -> None:
        super().__init__()
        self.set_running_or_notify_cancel()
        self.alive: Callable[[], bool] = _always

    def resolve(self, token: Optional[CachedToken], error: Optional[BaseException]) -> None:
        if self.done():
            return
        if token is not None:
            self.set_result(token)
        else:
            self.set_exception(shared_error(error))


def _always() -> bool:
    return True


def shared_error(error: Optional[BaseException]) -> Exception:
    """What the waiters of a failed refresh get: the leader's Exception itself, or, for an interrupt
    (KeyboardInterrupt, SystemExit, a cancellation) that stays with the leader, an error saying so."""
    if isinstance(error, Exception):
        return error
    try:
        return TokenExchangeError(
            "The token refresh was interrupted before it finished; try again.", retryable=True
        )
    except Exception as broken:  # never leave waiters without an answer
        _LOGGER.debug("Could not build the interrupted-refresh error: %s", error_text(broken))
        return broken


def refresh_timed_out(key: CacheKey, policy: RefreshPolicy) -> TokenExchangeError:
    """What a waiter gets when the refresh it waits for outlives its lease."""
    return TokenExchangeError(
        f"No token for scopes {list(key.scopes)}: the refresh in progress did not finish within "
        f"refresh_timeout={policy.refresh_timeout:g} s (is the assertion source hanging?). The next "
        "call starts a new one.",
        retryable=True,
    )


def repeated_error(error: Optional[BaseException], left: float) -> Exception:
    """What a caller without a valid token gets while its key is held after a failure: the last
    error again (a new exception of its kind, not the shared object), saying when the next attempt is
    allowed."""
    left = max(0.0, left)
    note = f" (Not tried again yet: the next attempt for this token is allowed in {left:.1f} s.)"
    if isinstance(error, TokenExchangeError):
        return TokenExchangeError(
            error.message + note,
            error=error.oauth_error,
            error_codes=error.error_codes,
            description=error.description,
            correlation_id=error.correlation_id,
            trace_id=error.trace_id,
            status_code=error.status_code,
            hint=error.hint,
            retryable=True,
            retry_after=left,
        )
    text = safe_text(error).strip() if error is not None else "The last token request failed."
    text = text or type(error).__name__
    if type(error).__name__ == "CredentialUnavailableError":
        return credential_unavailable(text + note)
    if isinstance(error, AssertionSourceError):
        return AssertionSourceError(text + note)
    return TokenExchangeError(text + note, retryable=True, retry_after=left)


def settle(
    policy: RefreshPolicy,
    key: CacheKey,
    state: KeyState,
    lock: Optional[ContextManager[Any]],
    generation: int,
    token: Optional[CachedToken],
    error: Optional[BaseException],
    *,
    counted: bool = True,
) -> None:
    """End lease ``generation`` of ``key`` (its token, or its error). The key is free afterwards
    whatever happens in here: this is where "every refresh that begins ends" holds. ``lock`` is the
    key's lock, or None when the caller already holds it."""
    try:
        with lock if lock is not None else contextlib.nullcontext():
            now = policy.clock()
            delay = finish_refresh(state, generation, policy, now, token, counted=counted, error=error)
        if error is not None and counted:
            log_failure(key, state, error, delay, now)
    finally:
        if state.generation == generation:
            state.refreshing = False


def log_failure(key: CacheKey, state: KeyState, error: BaseException, delay: float, now: float) -> None:
    token = state.token
    if token is not None and token.expires_on > now:
        _LOGGER.warning(
            "Token refresh for scopes %s in tenant %s failed; keeping the cached token (expires in %ds), "
            "next attempt in %.0fs: %s",
            list(key.scopes),
            key.tenant_id,
            token.expires_on - now,
            delay,
            error_text(error),
        )
    else:
        _LOGGER.debug(
            "Token request for scopes %s in tenant %s failed: %s",
            list(key.scopes),
            key.tenant_id,
            error_text(error),
        )
