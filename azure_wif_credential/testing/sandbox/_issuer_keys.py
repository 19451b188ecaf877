"""How the token service learns an external issuer's signing keys: OIDC discovery over HTTPS, cached.

Entra reads ``{iss}/.well-known/openid-configuration``, follows its ``jwks_uri`` and verifies the
assertion against the keys published there. The sandbox does the same, but only ever talks to
loopback issuers, and trusts only the sandbox's own CA.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests

from . import _entra_errors as errors

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class _IssuerMetadata:
    jwks_uri: str
    keys: dict[str, jwt.PyJWK]
    fetched_at: float


class IssuerKeys:
    """A small cache of issuers' JWKS that refetches when a token names a key it doesn't know."""

    def __init__(self, ca_file: str, *, timeout: float = 5.0, max_age: float = 300.0) -> None:
        self._ca_file = ca_file
        self._timeout = timeout
        self._max_age = max_age
        self._lock = threading.Lock()
        self._cache: dict[str, _IssuerMetadata] = {}
        self._session = requests.Session()
        self._session.trust_env = False  # no proxies and no REQUESTS_CA_BUNDLE: loopback, our CA only

    def close(self) -> None:
        self._session.close()

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def keys_for(self, issuer: str, kid: str | None) -> list[jwt.PyJWK]:
        """The issuer's keys that may have signed a token with header ``kid`` (all of them without one).

        Raises EntraError: AADSTS50166 when the metadata can't be fetched, AADSTS7000272 when no
        published key has that kid, even after a refetch.
        """
        with self._lock:
            metadata = self._cache.get(issuer)
            fresh = False
            if metadata is None or time.monotonic() - metadata.fetched_at > self._max_age:
                metadata = self._fetch(issuer)
                fresh = True
            if kid is None:
                return list(metadata.keys.values())
            if kid not in metadata.keys and not fresh:  # the issuer may have rotated its keys
                metadata = self._fetch(issuer)
            if kid not in metadata.keys:
                raise errors.signing_key_not_found(kid, issuer)
            return [metadata.keys[kid]]

    def _fetch(self, issuer: str) -> _IssuerMetadata:
        discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = self._get_json(issuer, discovery_url)
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise errors.issuer_metadata_unavailable(issuer, f"{discovery_url} has no jwks_uri.")
        jwks = self._get_json(issuer, jwks_uri)
        keys: dict[str, jwt.PyJWK] = {}
        for number, jwk in enumerate(jwks.get("keys") or []):
            try:
                key = jwt.PyJWK(jwk)
            except (jwt.PyJWTError, TypeError, ValueError):
                continue  # unusable entries are skipped, as relying parties do
            keys[str(jwk.get("kid", f"#{number}"))] = key
        metadata = _IssuerMetadata(jwks_uri=jwks_uri, keys=keys, fetched_at=time.monotonic())
        self._cache[issuer] = metadata
        return metadata

    def _get_json(self, issuer: str, url: str) -> dict[str, Any]:
        parts = urlsplit(url)
        if parts.scheme != "https" or parts.hostname not in _LOOPBACK_HOSTS:
            raise errors.issuer_metadata_unavailable(
                issuer, f"the sandbox fetches issuer metadata only over HTTPS from loopback hosts, not {url}."
            )
        try:
            response = self._session.get(
                url, verify=self._ca_file, timeout=self._timeout, allow_redirects=False
            )
        except requests.RequestException as error:
            raise errors.issuer_metadata_unavailable(
                issuer, f"GET {url} failed: {type(error).__name__}."
            ) from None
        with response:
            if response.status_code != 200:
                raise errors.issuer_metadata_unavailable(
                    issuer, f"GET {url} returned HTTP {response.status_code}."
                )
            try:
                document = response.json()
            except ValueError:
                document = None
        if not isinstance(document, dict):
            raise errors.issuer_metadata_unavailable(issuer, f"GET {url} did not return a JSON object.")
        return document
