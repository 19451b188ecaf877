"""The per-key slots of one credential: each key's policy state, its lock and the pending result of
its refresh in flight; and the cache-hit path, which finds a slot by the caller's own arguments."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Callable, Dict, Optional, Tuple

from ._errors import TokenExchangeError
from ._policy import KeyState, RefreshPolicy
from ._redact import error_text, get_logger
from ._tokens import CachedToken, CacheKey

_LOGGER = get_logger("azure_wif_credential")


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


class Slot:
    """One key of one credential: the policy's state, the lock guarding it (held only for pure
    decisions, never across an effect), and the pending result of its refresh in flight."""

    __slots__ = ("key", "lock", "pending", "state")

    def __init__(self, key: CacheKey) -> None:
        self.key = key
        self.state = KeyState()
        self.lock = threading.Lock()
        self.pending: Optional[Pending] = None


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


Fresh = Callable[[Tuple[str, ...], Optional[str], bool], Optional[CachedToken]]


def _hit_path(
    by_arguments: Dict[Tuple[Tuple[str, ...], Optional[str], bool], Slot], policy: RefreshPolicy
) -> Fresh:
    """``fresh(scopes, tenant_id, enable_cae)``: the slot's token if the policy calls it FRESH, else
    None. A closure over what it needs (no attribute lookups): it runs on every cache hit."""
    find, clock, is_fresh = by_arguments.get, policy.clock, policy.fresh

    def fresh(scopes: Tuple[str, ...], tenant_id: Optional[str], enable_cae: bool) -> Optional[CachedToken]:
        try:
            slot = find((scopes, tenant_id, enable_cae))
        except TypeError:  # unhashable arguments: slot() explains what is wrong with them
            return None
        if slot is not None:
            token = slot.state.token
            if token is not None and is_fresh(token, clock()):
                return token
        return None

    return fresh


class SlotTable:
    """The slots of one credential. ``fresh()`` is the cache-hit path: one dict lookup keyed by the
    caller's own arguments (no validation, no key object), then the policy's FRESH test."""

    def __init__(
        self, make_key: Callable[[Tuple[str, ...], Optional[str], bool], CacheKey], policy: RefreshPolicy
    ) -> None:
        self._make_key = make_key
        self._slots: Dict[CacheKey, Slot] = {}
        self._by_arguments: Dict[Tuple[Tuple[str, ...], Optional[str], bool], Slot] = {}
        self._lock = threading.Lock()
        self.fresh = _hit_path(self._by_arguments, policy)

    def after_fork(self) -> None:
        """In a forked child: every lock new, no refresh in flight (its thread was the parent's; its
        pending result would never resolve). Tokens are kept."""
        self._lock = threading.Lock()
        for slot in self._slots.values():
            slot.lock = threading.Lock()
            slot.pending = None
            slot.state.refreshing = False

    def slot(self, scopes: Tuple[str, ...], tenant_id: Optional[str], enable_cae: bool) -> Slot:
        """The slot of the key these arguments name (validated: scopes present, tenant allowed),
        created on first use."""
        key = self._make_key(scopes, tenant_id, enable_cae)
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = Slot(key)
            self._by_arguments[(scopes, tenant_id, bool(enable_cae))] = slot
        return slot
