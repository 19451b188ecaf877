"""FederatedTokenCredential: the thread-based shell over the shared token policy."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Dict, Optional

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions
from azure.core.exceptions import ClientAuthenticationError

from ._core import (
    CredentialBase,
    assertion_errors,
    checked_assertion,
    request_options,
)
from ._policy import (
    Action,
    CachedToken,
    CacheKey,
    KeyState,
    begin_refresh,
    challenge_answered,
    refresh_failed,
    refresh_succeeded,
)
from .assertions._base import SyncAssertion

_LOGGER = logging.getLogger("azure_wif_credential")
_IGNORED_GET_TOKEN_KWARGS: set[str] = set()


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
            _warn_ignored(kwargs)
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

    # --- the policy, driven with threads ---------------------------------------------------------

    def _get(
        self, scopes: tuple[str, ...], claims: Optional[str], tenant_id: Optional[str], cae: bool
    ) -> CachedToken:
        if self._closed:
            raise self._closed_error()
        key, slot = self._slots.slot(scopes, tenant_id, cae)
        now = time.time()
        if claims:
            return self._refresh(key, slot, claims=claims, future=None)
        with slot.lock:
            action = self._core.policy.decide(slot.state, now)
            if action is not Action.WAIT:
                if action is Action.SERVE_AND_REFRESH and begin_refresh(slot.state):
                    slot.future = Future()
                    self._start_background_refresh(key, slot, slot.future)
                assert slot.state.token is not None
                return slot.state.token
            leader = begin_refresh(slot.state)
            if leader:
                slot.future = Future()
            future = slot.future
            assert future is not None
        if leader:
            self._refresh(key, slot, claims=None, future=future)
        return future.result()

    def _start_background_refresh(self, key: CacheKey, slot: _Slot, future: Future[CachedToken]) -> None:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="azure-wif-refresh")
            executor = self._executor
        try:
            executor.submit(self._refresh, key, slot, None, future)
        except RuntimeError:  # shut down by a concurrent close()
            slot.state.refreshing = False
            future.cancel()

    def _refresh(
        self, key: CacheKey, slot: _Slot, claims: Optional[str], future: Optional[Future[CachedToken]]
    ) -> CachedToken:
        """One exchange. With a ``future`` this is the key's single refresh: its outcome goes to every
        waiter, and a failure keeps the old token and schedules the next attempt (backoff)."""
        try:
            with assertion_errors():
                assertion = checked_assertion(self._core.source())
            token = self._core.exchange.exchange(key, assertion, claims)
        except BaseException as error:
            if future is None:  # a claims challenge: not the key's refresh, nothing to record
                raise
            with slot.lock:
                now = time.time()
                delay = refresh_failed(slot.state, self._core.policy, now)
            self._core.log_failure(key, slot.state, error, delay, now)
            # Waiters share an Exception; a KeyboardInterrupt or SystemExit stays with this thread.
            shared = (
                error
                if isinstance(error, Exception)
                else ClientAuthenticationError(message="Token refresh interrupted.")
            )
            future.set_exception(shared)
            raise
        with slot.lock:
            refresh_succeeded(slot.state, token) if future is not None else challenge_answered(
                slot.state, token
            )
        if future is not None:
            future.set_result(token)
        return token

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
            # Let queued refreshes finish (each is bounded by the HTTP timeouts): a caller may be
            # waiting for one, and a cancelled job would leave it waiting forever.
            executor.shutdown(wait=True)
        self._core.exchange.close()

    def __enter__(self) -> FederatedTokenCredential:
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()


def _warn_ignored(kwargs: Dict[str, Any]) -> None:
    for name in kwargs:
        if name not in _IGNORED_GET_TOKEN_KWARGS:
            _IGNORED_GET_TOKEN_KWARGS.add(name)
            _LOGGER.warning("get_token ignores the keyword argument %r", name)
