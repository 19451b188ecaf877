"""The token-cache seam: where the flow reads and writes tokens beyond its in-memory slots, and the
cache lock that makes a refresh single-flight among everyone who shares the cache. (The *refresh
lease*, the numbered claim a key's one refresh holds in this process, is ``_refresh``'s.)

The flow asks a shared cache, on every refresh and never on a cache hit: take the key's cache lock,
load the stored token (someone else may have refreshed it), and only when it is not usable exchange
and store. The default, :class:`MemoryTokenCache`, is private to one credential and is not asked at
all; a persistent, cross-process cache implements the same methods and plugs in without touching
either shell.
"""

from __future__ import annotations

import threading
from typing import Dict, Optional, Protocol

from ._tokens import CachedToken, CacheKey


class CacheLock(Protocol):
    """The right to refresh one key among everyone who shares the cache. ``held`` is False when the wait for it timed out (the caller
    proceeds without it rather than wedge); ``release`` never blocks and may be called once."""

    held: bool

    def release(self) -> None: ...


class TokenCache(Protocol):
    """Storage of tokens behind the flow. ``blocking`` says whether its calls do I/O (the asyncio
    shell then runs them in a worker thread, never on the event loop)."""

    blocking: bool
    #: Whether anyone else reads or writes it (other credentials, processes). A private cache is not
    #: asked at all: the flow skips its lease, load and store, which could only do nothing.
    shared: bool

    def get(self, key: CacheKey) -> Optional[CachedToken]:
        """The stored token for ``key``, or None (also for anything unreadable: never raises for it)."""

    def put(self, key: CacheKey, token: CachedToken) -> None:
        """Store ``token`` for ``key``, replacing what was there."""

    def lock(self, key: CacheKey, timeout: float) -> CacheLock:
        """Wait at most ``timeout`` seconds for ``key``'s cache lock."""


class NoLock:
    """A cache lock that costs nothing: for a cache no one else shares."""

    held = True

    def release(self) -> None:
        return None


NO_LOCK = NoLock()


class MemoryTokenCache:
    """The default: tokens in this process, for this credential only (``shared=True``: one cache that
    several credentials share, as a test of the seam does)."""

    blocking = False

    def __init__(self, *, shared: bool = False) -> None:
        self.shared = shared
        self._tokens: Dict[CacheKey, CachedToken] = {}
        self._lock = threading.Lock()

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    def get(self, key: CacheKey) -> Optional[CachedToken]:
        with self._lock:
            return self._tokens.get(key)

    def put(self, key: CacheKey, token: CachedToken) -> None:
        with self._lock:
            self._tokens[key] = token

    def lock(self, key: CacheKey, timeout: float) -> CacheLock:
        return NO_LOCK
