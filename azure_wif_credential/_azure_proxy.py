"""AKS identity bindings (``enable_azure_proxy=True``): token requests go to the cluster's token proxy.

As azure-identity 1.27's ``WorkloadIdentityCredential(enable_azure_proxy=True)``: the proxy is
``AZURE_KUBERNETES_TOKEN_PROXY`` (https, no userinfo, query or fragment); every request of the
credential goes there with the proxy's path joined before its own and its body unchanged; TLS is
verified against ``AZURE_KUBERNETES_CA_FILE`` (re-read when it changes; an empty file, as in the
middle of a rotation, keeps the CA in use) or ``AZURE_KUBERNETES_CA_DATA``, with
``AZURE_KUBERNETES_SNI_NAME`` as the server name. The same configuration errors as azure-identity's.
"""

from __future__ import annotations

import os
import ssl
import threading
from dataclasses import dataclass
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit, urlunsplit

from azure.core.pipeline.transport import RequestsTransport
from requests.adapters import HTTPAdapter

from ._files import read_regular

TOKEN_PROXY = "AZURE_KUBERNETES_TOKEN_PROXY"
SNI_NAME = "AZURE_KUBERNETES_SNI_NAME"
CA_FILE = "AZURE_KUBERNETES_CA_FILE"
CA_DATA = "AZURE_KUBERNETES_CA_DATA"
CA_DATA_FILE_ERROR = f"Both {CA_FILE} and {CA_DATA} are set. Only one should be set."
CUSTOM_PROXY_ENV_ERROR = (
    f"{TOKEN_PROXY} is not set but other custom endpoint-related environment variables are present."
)
#: The largest CA bundle we read (a bundle is a few KiB).
MAX_CA_BYTES = 1 << 20


@dataclass(frozen=True)
class ProxySettings:
    endpoint: str
    sni_name: Optional[str]
    ca_file: Optional[str]
    ca_data: Optional[str]


def proxy_settings(environ: Optional[Mapping[str, str]] = None) -> Optional[ProxySettings]:
    """The proxy the environment configures, None when it configures none; ValueError (azure-identity's
    messages) when the configuration is inconsistent."""
    env = os.environ if environ is None else environ
    endpoint, sni = env.get(TOKEN_PROXY) or None, env.get(SNI_NAME) or None
    ca_file, ca_data = env.get(CA_FILE) or None, env.get(CA_DATA) or None
    if not endpoint:
        if sni or ca_file or ca_data:
            raise ValueError(CUSTOM_PROXY_ENV_ERROR)
        return None
    if ca_file and ca_data:
        raise ValueError(CA_DATA_FILE_ERROR)
    check_endpoint(endpoint)
    return ProxySettings(endpoint, sni, ca_file, ca_data)


def check_endpoint(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise ValueError(f"Endpoint URL ({url}) must use the 'https' scheme. Got '{parts.scheme}' instead.")
    if parts.username or parts.password:
        raise ValueError(f"Endpoint URL ({url}) must not contain username or password.")
    if parts.fragment:
        raise ValueError(f"Endpoint URL ({url}) must not contain a fragment.")
    if parts.query:
        raise ValueError(f"Endpoint URL ({url}) must not contain query parameters.")


def proxied_url(url: str, endpoint: str) -> str:
    """``url`` sent to the proxy: the proxy's scheme and host, its path joined before the request's."""
    request, proxy = urlsplit(url), urlsplit(endpoint)
    base = proxy.path.rstrip("/")
    if (request.scheme, request.netloc) == (proxy.scheme, proxy.netloc) and (
        request.path == base or request.path.startswith(base + "/")
    ):
        return url  # already the proxy's
    path = base + "/" + request.path.lstrip("/")
    return urlunsplit((proxy.scheme, proxy.netloc, path, request.query, request.fragment))


class CaBundle:
    """The proxy's CA: fixed data, or a file re-read when its modification time changes; an empty or
    unreadable file keeps the CA already loaded (a rotation writes the file in steps)."""

    def __init__(self, ca_file: Optional[str], ca_data: Optional[str]) -> None:
        self._file, self._data = ca_file, ca_data
        self._mtime: Optional[float] = None
        self._lock = threading.Lock()
        if ca_file and not self._reload() and self._data is None:
            raise ValueError(
                f"CA file ({ca_file}) is empty or unreadable. Cannot establish secure connection."
            )

    def _reload(self) -> bool:
        assert self._file
        try:
            mtime = os.stat(self._file).st_mtime
            content = read_regular(self._file, MAX_CA_BYTES)  # a FIFO or device swapped in cannot block us
        except OSError:  # also NotARegularFile and FileTooLarge: keep the CA already loaded
            return False
        if not content.strip():
            return False
        self._data, self._mtime = content.decode("ascii", "replace"), mtime
        return True

    def current(self) -> Optional[str]:
        with self._lock:
            if self._file:
                try:
                    changed = os.path.getmtime(self._file) != self._mtime
                except OSError:
                    changed = False
                if changed:
                    self._reload()
            return self._data


class _ServerNameAdapter(HTTPAdapter):
    """Verifies the proxy against its CA, with the configured server name for SNI and hostname checks."""

    def __init__(self, server_name: Optional[str], ca_data: Optional[str]) -> None:
        self._server_name, self._ca_data = server_name, ca_data
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        context = (
            ssl.create_default_context(cadata=self._ca_data)
            if self._ca_data
            else ssl.create_default_context()
        )
        kwargs["ssl_context"] = context
        if self._server_name:
            kwargs["server_hostname"] = self._server_name
            kwargs["assert_hostname"] = self._server_name
        super().init_poolmanager(*args, **kwargs)


class AzureProxyTransport(RequestsTransport):  # type: ignore[misc]
    """A RequestsTransport that sends every request to the token proxy."""

    def __init__(self, settings: ProxySettings, ca: Optional[CaBundle] = None, **kwargs: Any) -> None:
        self._settings = settings
        self._ca = ca or CaBundle(settings.ca_file, settings.ca_data)
        self._mounted: Optional[tuple[int, Optional[str]]] = None  # (session, CA) of the adapter in place
        self._mount_lock = threading.Lock()
        super().__init__(**kwargs)

    def _mount(self) -> None:
        """A new adapter when the session or the CA changed (a new CA must not reuse old connections)."""
        ca = self._ca.current()
        with self._mount_lock:
            session = self.session
            if session is not None and self._mounted != (id(session), ca):
                session.mount("https://", _ServerNameAdapter(self._settings.sni_name, ca))
                self._mounted = (id(session), ca)

    def open(self) -> None:
        super().open()
        self._mount()

    def send(self, request: Any, **kwargs: Any) -> Any:
        request.url = proxied_url(request.url, self._settings.endpoint)
        self.open()
        return super().send(request, **kwargs)
