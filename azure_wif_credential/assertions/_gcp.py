"""Google Cloud: the metadata server's identity token for the VM's (or pod's) service account."""

from __future__ import annotations

import os
from typing import Any, Optional
from urllib.parse import urlencode

from .._errors import credential_unavailable
from ._base import AudienceSource
from ._token_endpoint import EndpointUnreachable, TokenEndpointClient, check_pipeline_options

METADATA_HOST = "GCE_METADATA_HOST"  # as google-auth reads it: host[:port] of the metadata server
DEFAULT_METADATA_HOST = "metadata.google.internal"
IDENTITY_PATH = "/computeMetadata/v1/instance/service-accounts/default/identity"
#: Off Google Cloud the metadata address does not answer: give up on connecting quickly.
_DEFAULTS = {"connection_timeout": 1.0, "read_timeout": 5.0, "retry_connect": 0, "retry_total": 2}


class GcpIdentityAssertion(AudienceSource):
    """The Google Cloud metadata server's identity token (``format=full``) for the default service
    account, with the audience Entra expects; asked afresh at each call (tokens live an hour).

    The server is ``$GCE_METADATA_HOST`` (as google-auth reads it), else ``metadata.google.internal``,
    over plain http with ``Metadata-Flavor: Google`` (the metadata host only). Off Google Cloud, or
    where the metadata address does not answer, a call raises CredentialUnavailableError within about
    a second, so a chain moves on.

    :param audience: the ``aud`` to request; by default the token-exchange audience for the cloud of
        ``AZURE_AUTHORITY_HOST`` (``api://AzureADTokenExchange`` in the public cloud).
    :keyword pipeline_options: azure-core options (``connection_timeout`` defaults to 1 s here).
    """

    def __init__(self, audience: Optional[str] = None, **pipeline_options: Any) -> None:
        check_pipeline_options(pipeline_options, type(self).__name__)
        self._choose_audience(audience)
        self._client = TokenEndpointClient(
            "the Google Cloud metadata server", **{**_DEFAULTS, **pipeline_options}
        )

    def __call__(self) -> str:
        host = (os.environ.get(METADATA_HOST) or DEFAULT_METADATA_HOST).strip()
        if not host or any(c in host for c in "/?#@ ") or host.startswith(("http:", "https:")):
            raise credential_unavailable(
                f"{METADATA_HOST}={host[:80]!r} is not a host[:port] (e.g. 169.254.169.254 or "
                "metadata.google.internal:80)."
            )
        query = urlencode({"audience": self._audience, "format": "full"})
        try:
            return self._client.request_token(
                "GET",
                f"http://{host}{IDENTITY_PATH}?{query}",
                {"Metadata-Flavor": "Google"},
                None,
                allow_http=True,
                require_header=("Metadata-Flavor", "Google"),
            )
        except EndpointUnreachable as error:
            raise credential_unavailable(
                f"No Google Cloud metadata server at {host} ({error.message}): this does not run on "
                f"Google Cloud (GCE, GKE, Cloud Run), or {METADATA_HOST} names the wrong host."
            ) from None
