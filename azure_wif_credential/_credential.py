"""FederatedTokenCredential: the thread shell. It performs the flow's effects (``_flow``) with blocking
calls and worker threads; every decision is the flow's."""

from __future__ import annotations

import functools
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import wait as futures_wait
from typing import Any, Optional, Set

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

from ._composition import GET_TOKEN_DOC, GET_TOKEN_INFO_DOC, CredentialBase
from ._flow import Blocking, Effect, Flow, Run, Start, Wait, WaitTimedOut, drive
from ._inputs import request_options, warn_ignored
from ._tokens import CachedToken
from .assertions._base import SyncAssertion


class FederatedTokenCredential(CredentialBase[SyncAssertion]):
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
    :keyword pipeline options: ``transport``, ``policies``, ``connection_verify``, ``proxies``,
        ``logging_enable``, ``connection_timeout``, ``read_timeout``, ``retry_total``, ... as for any
        Azure SDK client.

    A context manager: ``with`` enters the caller's ``transport``; ``close()`` (or the end of ``with``)
    ends background refreshes and closes the transport. A closed credential reopens when used again.
    """

    _thread_name = "azure-wif-refresh"

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
        return self._drive(self._call(scopes, claims, tenant_id, enable_cae)).access_token

    def get_token_info(self, *scopes: str, options: Optional[TokenRequestOptions] = None) -> AccessTokenInfo:
        claims, tenant_id, enable_cae = request_options(options)
        if claims is None:
            token = self._slots.fresh(scopes, tenant_id, enable_cae)
            if token is not None:
                return token.info
        return self._drive(self._call(scopes, claims, tenant_id, enable_cae)).info

    get_token.__doc__ = GET_TOKEN_DOC
    get_token_info.__doc__ = GET_TOKEN_INFO_DOC

    # --- the flow's effects, performed with threads ----------------------------------------------

    def _drive(self, flow: Flow) -> CachedToken:
        return drive(flow, self._perform)

    def _perform(self, effect: Effect) -> Any:
        if isinstance(effect, Blocking):
            return effect.call(self._core)
        if isinstance(effect, Run):
            return self._drive(effect.refresh)  # the leader refreshes on its own thread
        if isinstance(effect, Wait):
            try:
                return effect.pending.result(timeout=effect.timeout)
            except FutureTimeout:
                raise WaitTimedOut from None
        assert isinstance(effect, Start)
        job = self._worker().submit(self._drive, effect.refresh)
        with self._lock:
            self._jobs.add(job)
        job.add_done_callback(self._job_done)
        return None

    def _job_done(self, job: Future[CachedToken]) -> None:
        with self._lock:
            self._jobs.discard(job)

    # --- lifetime -------------------------------------------------------------------------------

    def close(self) -> None:
        """End background refreshes and close the HTTP transport (also a caller's, also when unused).
        No thread of ours outlives this; the credential reopens if used again."""
        executor = self._detach_worker()
        if executor is not None:
            # Let running and queued refreshes finish (each is bounded by the HTTP timeouts, and a caller
            # may be waiting for one), but for refresh_timeout at most: a hung source must not hang close().
            executor.shutdown(wait=False)
            with self._lock:
                jobs = set(self._jobs)
            futures_wait(jobs, timeout=self._core.policy.refresh_timeout)
        self._core.close()

    def __enter__(self) -> FederatedTokenCredential:
        self._core.enter()
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()
