"""aio.FederatedTokenCredential: the asyncio shell over the shared token policy.

One task per key refreshes; callers ``await asyncio.shield(task)`` so a cancelled caller never cancels
the refresh the others wait for. MSAL's blocking exchange and synchronous assertion sources run in the
credential's worker threads: the event loop never blocks on our I/O.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional, Set

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

from .._core import (
    CredentialBase,
    assertion_errors,
    checked_assertion,
    request_options,
)
from .._policy import (
    Action,
    CachedToken,
    CacheKey,
    KeyState,
    begin_refresh,
    challenge_answered,
    refresh_failed,
    refresh_succeeded,
)
from ..assertions._base import AnyAssertion

_LOGGER = logging.getLogger("azure_wif_credential")


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

    async def _get(
        self, scopes: tuple[str, ...], claims: Optional[str], tenant_id: Optional[str], cae: bool
    ) -> CachedToken:
        if self._closed:
            raise self._closed_error()
        key, slot = self._slots.slot(scopes, tenant_id, cae)
        now = time.time()
        if claims:
            return await self._exchange(key, claims, slot)  # not the key's refresh: replaces the entry only
        loop = asyncio.get_running_loop()
        with self._lock:
            if (
                slot.state.refreshing
                and slot.loop is not loop
                and (slot.loop is None or slot.loop.is_closed())
            ):
                slot.state.refreshing = False  # that loop is gone, and its task with it
            action = self._core.policy.decide(slot.state, now)
            if action is not Action.WAIT:
                if action is Action.SERVE_AND_REFRESH and begin_refresh(slot.state):
                    self._start_refresh(key, slot, loop)
                assert slot.state.token is not None
                return slot.state.token
            if begin_refresh(slot.state):
                self._start_refresh(key, slot, loop)
            task = slot.task
        if task is None or slot.loop is not loop:
            # The refresh runs on another live event loop (another thread): do our own exchange.
            return await self._exchange(key, None)
        return await asyncio.shield(task)

    def _start_refresh(self, key: CacheKey, slot: _Slot, loop: asyncio.AbstractEventLoop) -> None:
        task = loop.create_task(self._refresh(key, slot))
        slot.task, slot.loop = task, loop
        self._tasks.add(task)
        task.add_done_callback(self._refresh_done)

    def _refresh_done(self, task: asyncio.Task[CachedToken]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: waiters got it, or it was logged as a failed refresh

    async def _refresh(self, key: CacheKey, slot: _Slot) -> CachedToken:
        """The key's single refresh: its outcome goes to every waiter; a failure keeps the old token
        and schedules the next attempt (backoff)."""
        try:
            token = await self._exchange(key, None)
        except asyncio.CancelledError:
            with self._lock:
                slot.state.refreshing = False
            raise
        except BaseException as error:
            with self._lock:
                now = time.time()
                delay = refresh_failed(slot.state, self._core.policy, now)
            self._core.log_failure(key, slot.state, error, delay, now)
            raise
        with self._lock:
            refresh_succeeded(slot.state, token)
        return token

    async def _exchange(
        self, key: CacheKey, claims: Optional[str], slot: Optional[_Slot] = None
    ) -> CachedToken:
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
        token = await loop.run_in_executor(executor, self._core.exchange.exchange, key, assertion, claims)
        if slot is not None:
            with self._lock:
                challenge_answered(slot.state, token)
        return token

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
