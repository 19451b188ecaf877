"""The MSAL adapter: one confidential client per (tenant, CAE), an assertion in, a token or an
explaining error out.

MSAL keeps caches of its own that would defeat our policy: its token cache (a "refresh" would hand back
the old token) and its HTTP replay cache (identical 400s for 60 s, 5xx/429 for a few seconds). Our
front cache and backoff are the single source of truth, so MSAL's access tokens are dropped before each
exchange and POST responses are never replayed; its discovery GETs are still cached.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple

from azure.core.exceptions import AzureError

from .._claims import describe_assertion, unverified_claims
from .._config import CredentialConfig
from .._errors import TokenExchangeError, error_from_entra, tls_failure
from .._policy import token_from_result
from .._redact import error_text, get_logger, without_secret_cause
from .._tokens import CachedToken, CacheKey
from ._answers import EntraErrorAnswer, sanitized_error, seconds
from ._http_client import DocumentStore, MsalHttpClient

if TYPE_CHECKING:
    import msal

_LOGGER = get_logger("azure_wif_credential")


class _DiscoveryOnlyHttpCache(Dict[str, Any]):
    """MSAL's ``http_cache`` that keeps discovery GETs but never replays a token POST."""

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(key, str) and key.startswith("POST "):
            return
        super().__setitem__(key, value)


#: MSAL clients kept at most (one per tenant and CAE mode), least recently used dropped first: with
#: ``additionally_allowed_tenants=["*"]`` tenants come from requests, and memory must not grow with them.
MAX_CLIENTS = 64


class MsalExchange:
    """Exchanges an assertion for an access token through ``msal.ConfidentialClientApplication``.

    Blocking (MSAL is); the async credential calls it in a worker thread. Thread-safe. Keeps at most
    :data:`MAX_CLIENTS` MSAL clients (an LRU); a dropped one is built again when its tenant returns.
    """

    def __init__(
        self,
        config: CredentialConfig,
        *,
        documents: Optional[DocumentStore] = None,
        transport_factory: Optional[Callable[[], Any]] = None,
    ) -> None:
        self._config = config
        self._transport_factory = transport_factory
        self._documents = documents
        self._lock = threading.Lock()
        self._apps: OrderedDict[Tuple[str, bool], msal.ConfidentialClientApplication] = OrderedDict()
        self._http: Optional[MsalHttpClient] = None
        self._local = threading.local()  # the assertion for the exchange running on this thread

    def _assertion_for_msal(self) -> str:
        assertion: Optional[str] = getattr(self._local, "assertion", None)
        if assertion is None:  # pragma: no cover - MSAL only calls this inside exchange()
            raise RuntimeError("no assertion for this exchange")
        return assertion

    def _app(self, tenant_id: str, enable_cae: bool) -> msal.ConfidentialClientApplication:
        with self._lock:
            app = self._apps.get((tenant_id, enable_cae))
            if app is not None:
                self._apps.move_to_end((tenant_id, enable_cae))
                return app
            import msal  # lazily: importing MSAL costs more than the rest of this package

            if self._http is None:
                self._http = MsalHttpClient(
                    self._config.authority,
                    documents=self._documents,
                    transport_factory=self._transport_factory,
                    **self._config.pipeline_options,
                )
            authority = f"{self._config.authority}/{tenant_id}"
            try:
                app = msal.ConfidentialClientApplication(
                    self._config.client_id,
                    client_credential={"client_assertion": self._assertion_for_msal},
                    authority=authority,
                    http_client=self._http,
                    http_cache=_DiscoveryOnlyHttpCache(),
                    instance_discovery=None if self._config.instance_discovery else False,
                    client_capabilities=["CP1"] if enable_cae else None,
                    token_cache=msal.TokenCache(),
                )
            except EntraErrorAnswer as answer:
                raise self._entra_error(tenant_id, answer, {}) from None
            except TokenExchangeError:
                raise
            except Exception as error:  # MSAL raises ValueError, its own errors, or azure-core's
                raise self._failure(
                    error,
                    f"Could not load the OpenID configuration of {authority}: {error_text(error)}. Check the "
                    "tenant id and the authority host (AZURE_AUTHORITY_HOST), and that it is reachable.",
                    retryable=not isinstance(error, ValueError),
                ) from without_secret_cause(error)
            self._apps[(tenant_id, enable_cae)] = app
            while len(self._apps) > MAX_CLIENTS:
                self._apps.popitem(last=False)
            return app

    def exchange(self, key: CacheKey, assertion: str, claims: Optional[str] = None) -> CachedToken:
        # The assertion's claims are read only for a DEBUG line or an error's hint (not on every miss).
        if _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug(
                "Exchanging assertion (%s) for scopes %s in tenant %s%s",
                describe_assertion(unverified_claims(assertion)),
                list(key.scopes),
                key.tenant_id,
                " with CAE" if key.enable_cae else "",
            )
        app = self._app(key.tenant_id, key.enable_cae)
        cache = app.token_cache
        for entry in list(cache.search(cache.CredentialType.ACCESS_TOKEN)):
            cache.remove_at(entry)
        clock = self._config.refresh_policy.clock
        issued = clock()
        issued_wall = issued if clock is time.time else time.time()
        self._local.assertion = assertion
        try:
            result = app.acquire_token_for_client(list(key.scopes), claims_challenge=claims)
        except EntraErrorAnswer as answer:
            raise self._entra_error(key.tenant_id, answer, unverified_claims(assertion)) from None
        except TokenExchangeError:
            raise
        except AzureError as error:
            raise self._failure(
                error, f"Could not reach Microsoft Entra ID at {self._config.authority}: {error_text(error)}"
            ) from without_secret_cause(error)
        except Exception as error:  # MSAL itself failed on an answer we let through: still ours to explain
            raise TokenExchangeError(
                f"The token exchange with {self._config.authority} failed inside MSAL: {error_text(error)}",
                retryable=True,
            ) from without_secret_cause(error)
        finally:
            self._local.assertion = None
        if not isinstance(result, dict) or "access_token" not in result:
            # Not expected (every error answer raised in our HTTP client), but MSAL may refuse locally.
            document = sanitized_error(result if isinstance(result, dict) else {})
            raise self._entra_error(
                key.tenant_id, EntraErrorAnswer(0, document), unverified_claims(assertion)
            )
        expires_in = seconds(result.get("expires_in"))
        access_token = result.get("access_token")
        if not expires_in or expires_in <= 0 or not isinstance(access_token, str) or not access_token:
            raise TokenExchangeError(  # our HTTP client checked the answer; MSAL's result must agree
                f"MSAL returned no usable token from {self._config.authority}.", retryable=True
            )
        # MSAL turns refresh_in into an absolute refresh_on on the wall clock; move it onto our clock.
        refresh_on = seconds(result.get("refresh_on"))
        if refresh_on is not None:
            refresh_on += issued - issued_wall
        token = token_from_result(self._config.refresh_policy, issued, expires_in, refresh_on, access_token)
        _LOGGER.debug(
            "Token for scopes %s in tenant %s: expires_on=%d refresh_on=%d",
            list(key.scopes),
            key.tenant_id,
            token.expires_on,
            token.refresh_on,
        )
        return token

    def _failure(self, error: BaseException, message: str, *, retryable: bool = True) -> TokenExchangeError:
        """The error for a failure on the way to Entra: an untrusted certificate explained as one,
        else ``message``."""
        tls = tls_failure(error, self._config.authority)
        return tls if tls is not None else TokenExchangeError(message, retryable=retryable)

    def _entra_error(
        self, tenant_id: str, answer: EntraErrorAnswer, claims: Dict[str, Any]
    ) -> TokenExchangeError:
        return error_from_entra(
            answer.document,
            claims,
            tenant_id=tenant_id,
            client_id=self._config.client_id,
            status_code=answer.status or None,
            retry_after=answer.retry_after,
        )

    def after_fork(self) -> None:
        """In a forked child: forget the MSAL clients and the HTTP client without closing them (their
        pooled connections are the parent's too); the next exchange builds new ones."""
        self._lock = threading.Lock()
        self._apps = OrderedDict()
        self._http = None
        self._local = threading.local()

    def close(self) -> None:
        """Drop the MSAL clients and our HTTP client; the next exchange builds new ones (reopen)."""
        with self._lock:
            self._apps.clear()
            http, self._http = self._http, None
        if http is not None:
            http.close()
