"""An external OIDC identity provider: it signs tokens and publishes its discovery document and JWKS."""

from __future__ import annotations

import threading
from typing import Any, Mapping

from ._pki import SigningKey, new_signing_key
from ._server import Request, Response, Route


class OidcIssuer:
    """Signs RS256 JWTs as ``url``; serves ``{url}/.well-known/openid-configuration`` and its JWKS.

    Its key is made on first use, so issuers a test never touches cost nothing.
    """

    def __init__(
        self,
        url: str,
        *,
        claims_supported: tuple[str, ...] = ("sub", "aud", "exp", "iat", "iss", "jti", "nbf"),
    ) -> None:
        self.url = url
        self.jwks_uri = f"{url}/.well-known/jwks"
        self._claims_supported = claims_supported
        self._lock = threading.Lock()
        self._keys: list[SigningKey] = []  # newest first; all are published

    def sign(self, claims: Mapping[str, Any]) -> str:
        return self._current_key().sign(claims)

    def rotate_key(self, *, keep_previous: bool = True) -> str:
        """Sign with a new key from now on; returns its kid. The old key stays published if asked."""
        key = new_signing_key()
        with self._lock:
            self._keys = [key, *self._keys[:1]] if keep_previous else [key]
        return key.kid

    def routes(self, prefix: str) -> list[Route]:
        """The discovery and JWKS routes, for an issuer whose URL path is ``prefix``."""
        return [
            Route(
                "GET",
                f"{prefix}/\\.well-known/openid-configuration",
                "issuer-openid-configuration",
                self._discovery,
            ),
            Route("GET", f"{prefix}/\\.well-known/jwks", "issuer-keys", self._jwks),
        ]

    def _current_key(self) -> SigningKey:
        with self._lock:
            if not self._keys:
                self._keys = [new_signing_key()]
            return self._keys[0]

    def _discovery(self, request: Request) -> Response:
        return Response.json(
            200,
            {
                "issuer": self.url,
                "jwks_uri": self.jwks_uri,
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "claims_supported": list(self._claims_supported),
            },
        )

    def _jwks(self, request: Request) -> Response:
        self._current_key()
        with self._lock:
            keys = list(self._keys)
        return Response.json(200, {"keys": [key.public_jwk() for key in keys]})
