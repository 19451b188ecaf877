"""aio.FederatedTokenCredential: the asyncio shell. It performs the flow's effects (``_flow``) with
tasks and awaits; blocking calls (MSAL, synchronous sources, a blocking token cache) run in the
credential's worker threads, so the event loop never blocks on our I/O. Every decision is the flow's.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
from typing import Any, Optional, Set

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

from .._composition import GET_TOKEN_DOC, GET_TOKEN_INFO_DOC, CredentialBase
from .._flow import Blocking, CallSource, Effect, Flow, Run, Steps, Wait, WaitTimedOut
from .._inputs import request_options, warn_ignored
from .._msal._http_client import CALLER_LOOP
from .._refresh import Pending
from .._tokens import CachedToken
from ..assertions._base import AnyAssertion


class FederatedTokenCredential(CredentialBase[AnyAssertion]):
    """The asyncio twin of :class:`azure_wif_credential.FederatedTokenCredential`: same arguments
    (``assertion`` may also be a coroutine function; ``transport`` may be an azure-core
    ``AsyncHttpTransport`` such as ``AioHttpTransport``), same policy, awaitable ``get_token``,
    ``get_token_info`` and ``close``; an async context manager."""

    _thread_name = "azure-wif-aio"

    @functools.cached_property
    def _tasks(self) -> Set[asyncio.Task[CachedToken]]:
        """Refresh tasks not yet done (close() cancels those of its event loop)."""
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
        return (await self._drive(self._call(scopes, claims, tenant_id, enable_cae))).access_token

    async def get_token_info(
        self, *scopes: str, options: Optional[TokenRequestOptions] = None
    ) -> AccessTokenInfo:
        claims, tenant_id, enable_cae = request_options(options)
        if claims is None:
            token = self._slots.fresh(scopes, tenant_id, enable_cae)
            if token is not None:
                return token.info
        return (await self._drive(self._call(scopes, claims, tenant_id, enable_cae))).info

    get_token.__doc__ = GET_TOKEN_DOC
    get_token_info.__doc__ = GET_TOKEN_INFO_DOC

    # --- the flow's effects, performed with tasks ------------------------------------------------

    async def _drive(self, flow: Flow) -> CachedToken:
        steps = Steps(flow)
        for effect in steps:
            try:
                steps.answer(await self._perform(effect))
            except BaseException as error:
                steps.fail(error)
        return steps.result()

    async def _perform(self, effect: Effect) -> Any:
        loop = asyncio.get_running_loop()
        if isinstance(effect, CallSource) and self._async_source:
            return await self._core.source()
        if isinstance(effect, Blocking):
            if not effect.blocks(self._core):
                return effect.call(self._core)
            value = await loop.run_in_executor(
                self._worker(), _on_caller_loop(loop).run, effect.call, self._core
            )
            return (await value) if inspect.isawaitable(value) else value
        if isinstance(effect, Wait):
            return await _wait(effect.pending, effect.timeout)
        # Start or Run: the refresh is a task of its own, so a cancelled caller does not cancel the
        # refresh others wait for; a Run's caller then waits for it like any waiter (bounded).
        task = loop.create_task(self._drive(effect.refresh))
        effect.pending.alive = lambda: not loop.is_closed()
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        if isinstance(effect, Run):
            try:
                return await asyncio.wait_for(asyncio.shield(task), self._core.policy.refresh_timeout)
            except asyncio.TimeoutError:
                raise WaitTimedOut from None
        return None

    def _task_done(self, task: asyncio.Task[CachedToken]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: waiters got it, or it was logged as a failed refresh

    # --- lifetime -------------------------------------------------------------------------------

    async def close(self) -> None:
        """Cancel this event loop's refresh tasks, wait for the worker threads, close the HTTP
        transport (also a caller's, also when unused). The credential reopens if used again."""
        loop = asyncio.get_running_loop()
        mine = [t for t in list(self._tasks) if t.get_loop() is loop]
        for task in mine:
            task.cancel()
        if mine:
            await asyncio.gather(*mine, return_exceptions=True)
        executor = self._detach_worker()
        if executor is not None:  # bounded: a hung synchronous source must not hang close()
            stopping = loop.run_in_executor(
                None, functools.partial(executor.shutdown, wait=True, cancel_futures=True)
            )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stopping, self._core.policy.refresh_timeout)
        await self._core.aclose()

    async def __aenter__(self) -> FederatedTokenCredential:
        await self._core.aenter()
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.close()


def _on_caller_loop(loop: asyncio.AbstractEventLoop) -> contextvars.Context:
    """The context a worker thread runs in: the caller's, plus its loop (an AsyncHttpTransport's
    requests run there; the loop is free, awaiting the worker)."""
    reset = CALLER_LOOP.set(loop)
    try:
        return contextvars.copy_context()
    finally:
        CALLER_LOOP.reset(reset)


async def _wait(pending: Pending, timeout: float) -> CachedToken:
    """Wait for a refresh that may run on another thread or event loop; giving up (a timeout, a
    cancellation) stops only this waiter."""
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[None] = loop.create_future()

    def wake(_: object) -> None:
        with contextlib.suppress(RuntimeError):  # this waiter's loop is closed: nobody to wake
            loop.call_soon_threadsafe(_set_done, woken)

    pending.add_done_callback(wake)
    try:
        await asyncio.wait_for(woken, timeout)
    except asyncio.TimeoutError:
        raise WaitTimedOut from None
    token: CachedToken = pending.result()
    return token


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
