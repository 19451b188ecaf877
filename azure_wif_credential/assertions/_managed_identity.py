"""A managed identity's token as the assertion: an Azure workload reaching another tenant's app."""

from __future__ import annotations

import os
import threading
from typing import Any, Dict, Optional

from azure.core.exceptions import ClientAuthenticationError

from .._errors import credential_unavailable, scrubbed
from .._redact import guard_loggers, remember, safe_text
from ._base import AudienceSource
from ._deadline import within


class ManagedIdentityAssertion(AudienceSource):
    """A token of the managed identity (azure-identity's ``ManagedIdentityCredential``) for
    ``{audience}/.default``, used as the federated assertion: the app registration's FIC trusts the
    managed identity's issuer (``https://login.microsoftonline.com/{tenant}/v2.0``) and its object id
    as the subject. Where no managed identity is available, azure-identity's CredentialUnavailableError
    passes through (a chain moves on).

    :param client_id: a user-assigned identity's client id (None: the system-assigned identity).
    :keyword audience: the token-exchange audience; by default the one for ``AZURE_AUTHORITY_HOST``'s cloud.
    :keyword timeout: seconds one call may take in all (connecting, retries, a trickling answer);
        default 20. Past it the call raises, naming the endpoint; the request left behind ends by its
        read timeout.
    :keyword kwargs: passed to ``ManagedIdentityCredential`` (``identity_config``, pipeline options;
        by default ``connection_timeout=1, retry_connect=0, read_timeout=5``, so an absent IMDS is known
        within a second and a silent endpoint within seconds).

    The endpoint's secret (App Service's ``IDENTITY_HEADER``) is registered with the redactor, so an
    endpoint that echoes it back never shows it in an error.
    """

    def __init__(
        self,
        client_id: Optional[str] = None,
        *,
        audience: Optional[str] = None,
        timeout: float = 20.0,
        **kwargs: Any,
    ) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 3600:
            raise ValueError(f"timeout must be a number of seconds between 0 and 3600, not {timeout!r}")
        self._timeout = float(timeout)
        if client_id is not None and (not isinstance(client_id, str) or not client_id.strip()):
            raise ValueError("client_id must be a user-assigned managed identity's client id, or None")
        self._client_id = client_id
        self._choose_audience(audience)
        # Off Azure the IMDS address drops packets: connect once, briefly (answers are still retried).
        self._kwargs = {"connection_timeout": 1, "retry_connect": 0, "read_timeout": 5, **kwargs}
        self._credential: Any = None
        self._lock = threading.Lock()

    def _described(self) -> Dict[str, Any]:
        return {"client_id": self._client_id}

    def __call__(self) -> str:
        with self._lock:
            if self._credential is None:  # no I/O at construction: built at the first call
                from azure.identity import ManagedIdentityCredential

                self._credential = ManagedIdentityCredential(client_id=self._client_id, **self._kwargs)
                guard_loggers("azure.identity")  # its log lines quote the endpoint's answers
            credential = self._credential
        remember(*(os.environ.get(name) for name in ("IDENTITY_HEADER", "MSI_SECRET")))
        try:
            token: str = within(
                self._timeout,
                "the managed identity endpoint",
                credential.get_token,
                f"{self._audience}/.default",
            ).token
        except ClientAuthenticationError as error:
            # CredentialUnavailableError (no managed identity here) or the endpoint's refusal: the same
            # kind of error, its text redacted (an endpoint may echo the identity header).
            message = safe_text(getattr(error, "message", None) or error)
            if type(error).__name__ == "CredentialUnavailableError":
                raise credential_unavailable(message) from None
            raise scrubbed(ClientAuthenticationError(message=message)) from None
        remember(token)
        return token

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._credential = None  # its pooled connections are the parent's too: a new one is built

    def close(self) -> None:
        with self._lock:
            credential, self._credential = self._credential, None
        if credential is not None:
            credential.close()
