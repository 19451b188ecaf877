"""The per-key slots of one credential: each key's policy state, its lock and the pending result of
its refresh in flight; and the cache-hit path, which finds a slot by the caller's own arguments."""

from __future__ import annotations

import threading
from typing import Callable, Dict, Optional, Tuple

from ._policy import RefreshPolicy
from ._redact import get_logger
from ._refresh import KeyState, Pending
from ._tokens import CachedToken, CacheKey

_LOGGER = get_logger("azure_wif_credential")


class Slot:
    """One key of one credential: the policy's state, the lock guarding it (held only for pure
    decisions, never across an effect), and the pending result of its refresh in flight."""

    __slots__ = ("key", "lock", "pending", "state")

    def __init__(self, key: CacheKey) -> None:
        self.key = key
        self.state = KeyState()
        self.lock = threading.Lock()
        self.pending: Optional[Pending] = None


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

    def __init__(self, policy: RefreshPolicy) -> None:
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

    def slot(
        self, key: CacheKey, scopes: Tuple[str, ...], tenant_id: Optional[str], enable_cae: bool
    ) -> Slot:
        """The slot of ``key`` (which the credential built and validated from these arguments), created
        on first use; the arguments become the cache-hit path's way to it."""
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = Slot(key)
            self._by_arguments[(scopes, tenant_id, bool(enable_cae))] = slot
        return slot
