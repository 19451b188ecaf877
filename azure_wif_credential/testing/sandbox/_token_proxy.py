"""An AKS identity-binding token proxy: HTTPS with a CA of its own and a certificate for its SNI name
only, forwarding the token requests (and the tenant's OpenID discovery, which MSAL reads first) to the
sandbox's STS, and refusing every other path."""

from __future__ import annotations

import os
import secrets
from typing import Any

from ._pki import TlsFiles, write_tls_files
from ._server import Handler, HttpsServer, Request, Response, Route

PREFIX = "/identity-binding"
_TENANT = "(?P<tenant>[^/]+)"


class IdentityBindingProxy:
    """The proxy's own server; :meth:`environment` gives the variables AKS sets for a bound pod."""

    def __init__(
        self, directory: str, host: str, *, token: Handler, discovery: Handler, **server_options: Any
    ) -> None:
        self.sni_name = f"identity-binding-{secrets.token_hex(3)}.sandbox.test"
        self._directory, self._host = directory, host
        self._generation = 0
        self.tls = self._new_tls()
        self.ca_file = os.path.join(directory, "azure-proxy-ca.pem")  # what the pod mounts
        self._publish_ca()
        self.server = HttpsServer(host, 0, self.tls, sni_names=(self.sni_name,), **server_options)
        self._routes = [
            Route("POST", f"{PREFIX}/{_TENANT}/oauth2/v2\\.0/token", "azure-proxy", token),
            Route(
                "GET",
                f"{PREFIX}/{_TENANT}/v2\\.0/\\.well-known/openid-configuration",
                "azure-proxy",
                discovery,
            ),
            Route("GET", f"{PREFIX}/.*", "azure-proxy-refused", self._refused),
            Route("POST", f"{PREFIX}/.*", "azure-proxy-refused", self._refused),
        ]

    @property
    def endpoint(self) -> str:
        return f"https://{self._host}:{self.server.port}{PREFIX}"

    def _new_tls(self) -> TlsFiles:
        self._generation += 1
        return write_tls_files(
            self._directory, names=(self.sni_name,), prefix=f"azure-proxy-{self._generation}-"
        )

    def _publish_ca(self) -> None:
        with open(self.tls.ca_file, "rb") as source:
            data = source.read()
        temporary = f"{self.ca_file}.tmp"
        with open(temporary, "wb") as target:
            target.write(data)
        os.replace(temporary, self.ca_file)

    def start(self) -> None:
        self.server.start(self._routes)

    def stop(self) -> None:
        self.server.stop()

    def rotate_ca(self, *, publish: bool = True) -> None:
        """A new CA and certificate for new connections; ``publish`` writes the new CA to the pod's CA
        file (``publish=False``: the server has rotated, the file not yet)."""
        self.tls = self._new_tls()
        self.server.use_tls(self.tls)
        if publish:
            self._publish_ca()

    def environment(self) -> dict[str, str]:
        return {
            "AZURE_KUBERNETES_TOKEN_PROXY": self.endpoint,
            "AZURE_KUBERNETES_SNI_NAME": self.sni_name,
            "AZURE_KUBERNETES_CA_FILE": self.ca_file,
        }

    def _refused(self, request: Request) -> Response:
        return Response.json(
            404, {"error": "not_found", "error_description": f"{request.path} is not proxied"}
        )
