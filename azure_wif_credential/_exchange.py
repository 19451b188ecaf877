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
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

from azure.core.exceptions import AzureError

from ._claims import describe_assertion, unverified_claims
from ._config import CredentialConfig
from ._errors import TokenExchangeError, error_from_entra
from ._msal_http import MsalHttpClient
from ._policy import CachedToken, CacheKey, token_from_result

if TYPE_CHECKING:
    import msal

_LOGGER = logging.getLogger("azure_wif_credential")


class _DiscoveryOnlyHttpCache(Dict[str, Any]):
    """MSAL's ``http_cache`` that keeps discovery GETs but never replays a token POST."""

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(key, str) and key.startswith("POST "):
            return
        super().__setitem__(key, value)


class MsalExchange:
    """Exchanges an assertion for an access token through ``msal.ConfidentialClientApplication``.

    Blocking (MSAL is); the async credential calls it in a worker thread. Thread-safe.
    """

    def __init__(self, config: CredentialConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._apps: Dict[Tuple[str, bool], msal.ConfidentialClientApplication] = {}
        self._http: Optional[MsalHttpClient] = None
        self._local = threading.local()  # the assertion for the exchange running on this thread
        self._closed = False

    def _assertion_for_msal(self) -> str:
        assertion: Optional[str] = getattr(self._local, "assertion", None)
        if assertion is None:  # pragma: no cover - MSAL only calls this inside exchange()
            raise RuntimeError("no assertion for this exchange")
        return assertion

    def _app(self, tenant_id: str, enable_cae: bool) -> msal.ConfidentialClientApplication:
        with self._lock:
            if self._closed:
                raise TokenExchangeError("The credential is closed.")
            app = self._apps.get((tenant_id, enable_cae))
            if app is not None:
                return app
            import msal  # lazily: importing MSAL costs more than the rest of this package

            if self._http is None:
                self._http = MsalHttpClient(**self._config.pipeline_options)
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
            except Exception as error:  # MSAL raises ValueError, its own errors, or ours
                raise TokenExchangeError(
                    f"Could not load the OpenID configuration of {authority}: {_safe(error)}. Check the "
                    "tenant id and the authority host (AZURE_AUTHORITY_HOST), and that it is reachable.",
                    retryable=not isinstance(error, ValueError),
                ) from error
            self._apps[(tenant_id, enable_cae)] = app
            return app

    def exchange(self, key: CacheKey, assertion: str, claims: Optional[str] = None) -> CachedToken:
        assertion_claims = unverified_claims(assertion)
        if _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug(
                "Exchanging assertion (%s) for scopes %s in tenant %s%s",
                describe_assertion(assertion_claims),
                list(key.scopes),
                key.tenant_id,
                " with CAE" if key.enable_cae else "",
            )
        app = self._app(key.tenant_id, key.enable_cae)
        cache = app.token_cache
        for entry in list(cache.search(cache.CredentialType.ACCESS_TOKEN)):
            cache.remove_at(entry)
        issued = time.time()
        self._local.assertion = assertion
        try:
            result = app.acquire_token_for_client(list(key.scopes), claims_challenge=claims)
        except Exception as error:
            if isinstance(error, AzureError):
                raise TokenExchangeError(
                    f"Could not reach Microsoft Entra ID at {self._config.authority}: {_safe(error)}",
                    retryable=True,
                ) from error
            response = self._http.last_response if self._http else None
            if response is None or response.status_code < 400:
                raise
            # MSAL raises (rather than returning an error dict) for 5xx: explain from the response.
            raise self._http_error(key, response.status_code, response.text, assertion_claims) from None
        finally:
            self._local.assertion = None
        if "access_token" not in result:
            response = self._http.last_response if self._http else None
            status = response.status_code if response is not None else None
            raise error_from_entra(
                result,
                assertion_claims,
                tenant_id=key.tenant_id,
                client_id=self._config.client_id,
                status_code=status,
            )
        refresh_on = result.get("refresh_on")
        token = token_from_result(
            self._config.refresh_policy,
            issued,
            float(result.get("expires_in", 3600)),
            float(refresh_on) if refresh_on is not None else None,
            str(result["access_token"]),
        )
        _LOGGER.debug(
            "Token for scopes %s in tenant %s: expires_on=%d refresh_on=%d",
            list(key.scopes),
            key.tenant_id,
            token.expires_on,
            token.refresh_on,
        )
        return token

    def _http_error(
        self, key: CacheKey, status: int, text: str, claims: Dict[str, Any]
    ) -> TokenExchangeError:
        import json

        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if isinstance(body, dict) and ("error" in body or "error_description" in body):
            return error_from_entra(
                body,
                claims,
                tenant_id=key.tenant_id,
                client_id=self._config.client_id,
                status_code=status,
            )
        return TokenExchangeError(
            f"Microsoft Entra ID at {self._config.authority} answered HTTP {status} without an "
            "OAuth error; try again later.",
            status_code=status,
            retryable=status == 429 or status >= 500,
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._apps.clear()
            http, self._http = self._http, None
        if http is not None:
            http.close()


def _safe(error: BaseException) -> str:
    """An exception's text for our messages (these come from MSAL/azure-core, never hold the assertion)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
