"""aio.FederatedTokenCredential: the asyncio shell over the shared token policy.

One task per key refreshes; callers ``await asyncio.shield(task)`` so a cancelled caller never cancels
the refresh the others wait for. MSAL's blocking exchange and synchronous assertion sources run in the
credential's worker threads: the event loop never blocks on our I/O.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional, Set

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

from .._core import (
    GET_TOKEN_DOC,
    GET_TOKEN_INFO_DOC,
    CredentialBase,
    assertion_errors,
    checked_assertion,
    checked_claims,
    refresh_timed_out,
    request_options,
    warn_ignored,
)
from .._policy import (
    Action,
    CachedToken,
    CacheKey,
    KeyState,
    begin_refresh,
    challenge_answered,
)
from ..assertions._base import AnyAssertion


class _Slot:
    """One key's policy state and its one refresh task (bound to the loop that started it)."""

    __slots__ = ("loop", "state", "task")

    def __init__(self) -> None:
        self.state = KeyState()
        self.task: Optional[asyncio.Task[CachedToken]] = None
        self.loop: Optional[asyncio.AbstractEventLoop] = None


class FederatedTokenCredential(CredentialBase[AnyAssertion, _Slot]):
    """The asyncio twin of :class:`azure_wif_credential.FederatedTokenCredential`: same arguments
    (``assertion`` may also be a coroutine function), same policy, awaitable ``get_token``,
    ``get_token_info`` and ``close``; an async context manager."""

    _slot_type = _Slot
    _executor: Optional[ThreadPoolExecutor] = None  # created with the first exchange

    @functools.cached_property
    def _tasks(self) -> Set[asyncio.Task[CachedToken]]:
        """Background refresh tasks, cancelled by close()."""
        return set()

    @functools.cached_property
    def _async_source(self) -> bool:
        source = self._core.source
        call = getattr(source, "__call__", None)  # noqa: B004 - an object with an async __call__
        return inspect.iscoroutinefunction(source) or inspect.iscoroutinefunction(call)

    async def get_token(
        self,
        *scopes: str,
        claims: Optional[str] = None,
        tenant_id: Optional[str] = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        if kwargs:
            warn_ignored(kwargs)
        if claims is None:
            token = self._slots.fresh(scopes, tenant_id, enable_cae)
            if token is not None:
                return token.access_token
        return (await self._get(scopes, claims, tenant_id, enable_cae)).access_token

    async def get_token_info(
        self, *scopes: str, options: Optional[TokenRequestOptions] = None
    ) -> AccessTokenInfo:
        claims, tenant_id, enable_cae = request_options(options)
        if claims is None:
            token = self._slots.fresh(scopes, tenant_id, enable_cae)
            if token is not None:
                return token.info
        return (await self._get(scopes, claims, tenant_id, enable_cae)).info

    get_token.__doc__ = GET_TOKEN_DOC
    get_token_info.__doc__ = GET_TOKEN_INFO_DOC

    async def _get(
        self, scopes: tuple[str, ...], claims: Optional[str], tenant_id: Optional[str], cae: bool
    ) -> CachedToken:
        if self._closed:
            raise self._closed_error()
        claims = checked_claims(claims)
        key, slot = self._slots.slot(scopes, tenant_id, cae)
        policy = self._core.policy
        if claims:
            token = await self._exchange(key, claims)  # not the key's refresh: replaces the entry only
            with self._lock:
                challenge_answered(slot.state, token)
            return token
        loop = asyncio.get_running_loop()
        with self._lock:
            now = policy.clock()
            if (
                slot.state.refreshing
                and slot.loop is not loop
                and (slot.loop is None or slot.loop.is_closed())
            ):
                slot.state.refreshing = False  # that loop is gone, and its task with it
            action = policy.decide(slot.state, now)
            if action is not Action.WAIT:
                if action is Action.SERVE_AND_REFRESH:
                    self._start_refresh(key, slot, loop, begin_refresh(slot.state, policy, now))
                assert slot.state.token is not None
                return slot.state.token
            self._start_refresh(key, slot, loop, begin_refresh(slot.state, policy, now))
            task = slot.task
            wait = policy.wait_left(slot.state, now)
        if task is None or slot.loop is not loop:
            # The refresh runs on another live event loop (another thread): do our own exchange.
            return await self._exchange(key, None)
        try:
            return await asyncio.wait_for(asyncio.shield(task), timeout=wait)
        except asyncio.TimeoutError:
            raise refresh_timed_out(key, policy) from None

    def _start_refresh(
        self, key: CacheKey, slot: _Slot, loop: asyncio.AbstractEventLoop, generation: Optional[int]
    ) -> None:
        if generation is None:  # another caller holds the lease
            return
        try:
            task = loop.create_task(self._refresh(key, slot, generation))
        except BaseException as error:
            self._core.settle(key, slot.state, None, generation, None, error, counted=False)
            raise
        slot.task, slot.loop = task, loop
        self._tasks.add(task)
        task.add_done_callback(self._refresh_done)

    def _refresh_done(self, task: asyncio.Task[CachedToken]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: waiters got it, or it was logged as a failed refresh

    async def _refresh(self, key: CacheKey, slot: _Slot, generation: int) -> CachedToken:
        """Lease ``generation`` of the key's one refresh: its outcome goes to every waiter; whatever
        happens, the lease is settled (a cancellation starts no backoff)."""
        token: Optional[CachedToken] = None
        error: Optional[BaseException] = None
        try:
            token = await self._exchange(key, None)
            return token
        except BaseException as raised:
            error = raised
            raise
        finally:
            cancelled = isinstance(error, asyncio.CancelledError)
            self._core.settle(key, slot.state, self._lock, generation, token, error, counted=not cancelled)

    async def _exchange(self, key: CacheKey, claims: Optional[str]) -> CachedToken:
        loop = asyncio.get_running_loop()
        executor = self._worker()
        with assertion_errors():
            if self._async_source:
                value = await self._core.source()
            else:
                value = await loop.run_in_executor(executor, self._core.source)
                if inspect.isawaitable(value):
                    value = await value
            assertion = checked_assertion(value)
        return await loop.run_in_executor(executor, self._core.exchange.exchange, key, assertion, claims)

    def _worker(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="azure-wif-aio")
            return self._executor

    async def close(self) -> None:
        """Cancel background refreshes, wait for worker threads, close the HTTP session."""
        if self._closed:
            return
        self._closed = True
        self._slots.clear()
        loop = asyncio.get_running_loop()
        mine = [t for t in self._tasks if t.get_loop() is loop]
        for task in mine:
            task.cancel()
        if mine:
            await asyncio.gather(*mine, return_exceptions=True)
        executor, self._executor = self._executor, None
        if executor is not None:
            await loop.run_in_executor(None, lambda: executor.shutdown(wait=True, cancel_futures=True))
        self._core.exchange.close()

    async def __aenter__(self) -> FederatedTokenCredential:
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.close()
