"""An HTTP client for code that talks to the sandbox itself, e.g. MSAL's ``http_client=``."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import requests


class CaPinnedHttpClient:
    """``get``/``post``/``close`` over a requests session that trusts only the sandbox's CA.

    ``verify`` goes with every request and the session ignores the environment, so REQUESTS_CA_BUNDLE
    and proxy variables can't redirect or re-trust it; every call has a timeout. MSAL accepts it as
    ``http_client=``.
    """

    def __init__(self, ca_file: str, *, timeout: float = 10.0) -> None:
        self._ca_file = ca_file
        self._timeout = timeout
        self._session = requests.Session()
        self._session.trust_env = False

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> requests.Response:
        return self._session.get(url, params=params, headers=headers, **self._options(kwargs))

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kwargs: Any
    ) -> requests.Response:
        return self._session.post(url, params=params, data=data, headers=headers, **self._options(kwargs))

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> CaPinnedHttpClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _options(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        # MSAL may pass its own timeout; nothing else may loosen verification.
        return {"verify": self._ca_file, "timeout": kwargs.get("timeout") or self._timeout}
