"""FederatedTokenCredential: the thread-based shell over the shared token policy."""

from __future__ import annotations

import functools
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import wait as futures_wait
from typing import Any, Optional, Set

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

from ._core import (
    GET_TOKEN_DOC,
    GET_TOKEN_INFO_DOC,
    CredentialBase,
    assertion_errors,
    checked_assertion,
    checked_claims,
    refresh_timed_out,
    request_options,
    shared_error,
    warn_ignored,
)
from ._policy import (
    Action,
    CachedToken,
    CacheKey,
    KeyState,
    begin_refresh,
    challenge_answered,
)
from .assertions._base import SyncAssertion


class _Slot:
    """One key's policy state, its lock, and the future of its one in-flight refresh."""

    __slots__ = ("future", "lock", "state")

    def __init__(self) -> None:
        self.state = KeyState()
        self.lock = threading.Lock()
        self.future: Optional[Future[CachedToken]] = None


class FederatedTokenCredential(CredentialBase[SyncAssertion, _Slot]):
    """Authenticates a workload outside Azure by exchanging its identity provider's token (the
    assertion) for a Microsoft Entra access token, through an app registration's federated identity
    credential. Secretless; refreshes ahead of expiry in the background; one token request per key
    however many threads ask at once.

    :param str tenant_id: the app registration's directory (tenant) id.
    :param str client_id: the app registration's application (client) id.
    :keyword assertion: a callable returning the current assertion (a JWT), e.g. one of
        :mod:`azure_wif_credential.assertions`. Exactly one of ``assertion`` and ``token_file``.
    :keyword token_file: path of a file holding the assertion (Kubernetes projected token), re-read
        whenever it changes.
    :keyword str authority: authority host, default ``AZURE_AUTHORITY_HOST`` or the public cloud.
    :keyword additionally_allowed_tenants: tenants besides ``tenant_id`` that ``get_token(tenant_id=...)``
        may target; ``["*"]`` for any.
    :keyword bool disable_instance_discovery: skip MSAL's instance discovery (always skipped for
        loopback authorities such as the sandbox).
    :keyword pipeline options: ``transport``, ``connection_verify``, ``proxies``, ``logging_enable``,
        ``connection_timeout``, ``read_timeout``, ``retry_total``, ... as for any Azure SDK client.
    """

    _slot_type = _Slot
    _executor: Optional[ThreadPoolExecutor] = None  # created with the first background refresh

    @functools.cached_property
    def _jobs(self) -> Set[Future[CachedToken]]:
        """Background refreshes submitted and not yet done (close() waits for them, bounded)."""
        return set()

    # --- the TokenCredential / SupportsTokenInfo protocols ---------------------------------------

    def get_token(
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
        return self._get(scopes, claims, tenant_id, enable_cae).access_token

    def get_token_info(self, *scopes: str, options: Optional[TokenRequestOptions] = None) -> AccessTokenInfo:
        claims, tenant_id, enable_cae = request_options(options)
        if claims is None:
            token = self._slots.fresh(scopes, tenant_id, enable_cae)
            if token is not None:
                return token.info
        return self._get(scopes, claims, tenant_id, enable_cae).info

    get_token.__doc__ = GET_TOKEN_DOC
    get_token_info.__doc__ = GET_TOKEN_INFO_DOC

    # --- the policy, driven with threads ---------------------------------------------------------

    def _get(
        self, scopes: tuple[str, ...], claims: Optional[str], tenant_id: Optional[str], cae: bool
    ) -> CachedToken:
        if self._closed:
            raise self._closed_error()
        claims = checked_claims(claims)
        key, slot = self._slots.slot(scopes, tenant_id, cae)
        policy = self._core.policy
        if claims:
            return self._challenge(key, slot, claims)
        with slot.lock:
            now = policy.clock()
            action = policy.decide(slot.state, now)
            if action is not Action.WAIT:
                if action is Action.SERVE_AND_REFRESH:
                    generation = begin_refresh(slot.state, policy, now)
                    if generation is not None:
                        slot.future = Future()
                        self._start_background_refresh(key, slot, generation, slot.future)
                assert slot.state.token is not None
                return slot.state.token
            generation = begin_refresh(slot.state, policy, now)
            if generation is not None:
                slot.future = Future()
            future = slot.future
            wait = policy.wait_left(slot.state, now)
            assert future is not None
        if generation is not None:
            return self._refresh(key, slot, generation, future)
        try:
            return future.result(timeout=wait)
        except FutureTimeout:
            raise refresh_timed_out(key, policy) from None

    def _start_background_refresh(
        self, key: CacheKey, slot: _Slot, generation: int, future: Future[CachedToken]
    ) -> None:
        try:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="azure-wif-refresh")
                executor = self._executor
            job = executor.submit(self._refresh, key, slot, generation, future)
            with self._lock:
                self._jobs.add(job)
            job.add_done_callback(self._job_done)
        except BaseException as error:  # shut down by a concurrent close(), or no thread to be had
            self._core.settle(key, slot.state, None, generation, None, error, counted=False)
            future.cancel()

    def _job_done(self, job: Future[CachedToken]) -> None:
        with self._lock:
            self._jobs.discard(job)

    def _exchange(self, key: CacheKey, claims: Optional[str]) -> CachedToken:
        with assertion_errors():
            assertion = checked_assertion(self._core.source())
        return self._core.exchange.exchange(key, assertion, claims)

    def _challenge(self, key: CacheKey, slot: _Slot, claims: str) -> CachedToken:
        """A claims challenge: not the key's refresh; its token replaces the entry."""
        token = self._exchange(key, claims)
        with slot.lock:
            challenge_answered(slot.state, token)
        return token

    def _refresh(
        self, key: CacheKey, slot: _Slot, generation: int, future: Future[CachedToken]
    ) -> CachedToken:
        """Lease ``generation`` of the key's one refresh. Whatever happens, the lease is settled and
        ``future`` resolved for every waiter (a KeyboardInterrupt stays with this thread; waiters get
        a ClientAuthenticationError)."""
        token: Optional[CachedToken] = None
        error: Optional[BaseException] = None
        try:
            token = self._exchange(key, None)
            return token
        except BaseException as raised:
            error = raised
            raise
        finally:
            try:
                self._core.settle(key, slot.state, slot.lock, generation, token, error)
            finally:
                if not future.done():
                    if token is not None:
                        future.set_result(token)
                    else:
                        future.set_exception(shared_error(error))

    # --- lifetime -------------------------------------------------------------------------------

    def close(self) -> None:
        """End background refreshes and close the HTTP session. No thread of ours outlives this."""
        if self._closed:
            return
        self._closed = True
        self._slots.clear()  # the cache-hit path now finds nothing and reaches the closed check
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            # Let running and queued refreshes finish (each is bounded by the HTTP timeouts, and a caller
            # may be waiting for one), but for refresh_timeout at most: a hung source must not hang close().
            executor.shutdown(wait=False)
            with self._lock:
                jobs = set(self._jobs)
            futures_wait(jobs, timeout=self._core.policy.refresh_timeout)
        self._core.exchange.close()

    def __enter__(self) -> FederatedTokenCredential:
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()
