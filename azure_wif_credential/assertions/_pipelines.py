"""Azure Pipelines: an OIDC token for one service connection, requested from the job's OIDC endpoint."""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional

from .._errors import credential_unavailable
from ._token_endpoint import TokenEndpointClient, check_pipeline_options, with_query

REQUEST_URI = "SYSTEM_OIDCREQUESTURI"
SERVICE_CONNECTION_ID = "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"
ACCESS_TOKEN = "SYSTEM_ACCESSTOKEN"
API_VERSION = "7.1"

_HOW_TO = {
    REQUEST_URI: "Azure Pipelines sets it in every job; outside a pipeline job this source can't work",
    SERVICE_CONNECTION_ID: "the AzureCLI@2 and AzurePowerShell@5 tasks set it; elsewhere pass "
    "service_connection_id= (the ID in the service connection's URL)",
    ACCESS_TOKEN: "map it into the step: `env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)`, or pass "
    "system_access_token=",
}


class AzurePipelinesAssertion:
    """An Azure Pipelines OIDC token for a service connection, freshly requested at every call.

    POST ``$SYSTEM_OIDCREQUESTURI?api-version=7.1&serviceConnectionId=ID`` with
    ``Authorization: Bearer TOKEN`` and ``X-TFS-FedAuthRedirect: Suppress``; the token is the JSON field
    ``oidcToken``. Missing values raise :class:`~azure.identity.CredentialUnavailableError` naming the
    variables; 5xx and 429 are retried with backoff; other failures raise
    :class:`~azure.core.exceptions.ClientAuthenticationError` with the status and Azure DevOps' message.

    :param service_connection_id: default ``$AZURESUBSCRIPTION_SERVICE_CONNECTION_ID`` (read at each call).
    :param system_access_token: default ``$SYSTEM_ACCESSTOKEN`` (read at each call).
    :keyword environ: where to read the variables (default: ``os.environ`` at each call).
    :keyword pipeline_options: azure-core options: ``transport``, ``connection_verify``, ``proxies``,
        ``connection_timeout``, ``read_timeout``, ``retry_*`` ...
    """

    def __init__(
        self,
        service_connection_id: Optional[str] = None,
        system_access_token: Optional[str] = None,
        *,
        environ: Optional[Mapping[str, str]] = None,
        **pipeline_options: Any,
    ) -> None:
        check_pipeline_options(pipeline_options, type(self).__name__)
        self._service_connection_id = service_connection_id
        self._system_access_token = system_access_token
        self._environ = environ
        self._client = TokenEndpointClient("Azure Pipelines' OIDC token endpoint", **pipeline_options)

    def __repr__(self) -> str:
        connection = self._service_connection_id or f"${SERVICE_CONNECTION_ID}"
        token = "<given>" if self._system_access_token else f"${ACCESS_TOKEN}"
        return f"{type(self).__name__}(service_connection_id={connection!r}, system_access_token={token})"

    def __call__(self) -> str:
        env = os.environ if self._environ is None else self._environ
        values = {
            REQUEST_URI: env.get(REQUEST_URI),
            SERVICE_CONNECTION_ID: self._service_connection_id or env.get(SERVICE_CONNECTION_ID),
            ACCESS_TOKEN: self._system_access_token or env.get(ACCESS_TOKEN),
        }
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise credential_unavailable(
                "Azure Pipelines OIDC is not available: "
                + "; ".join(f"{name} is not set ({_HOW_TO[name]})" for name in missing)
                + "."
            )
        return self._client.request_token(
            "POST",
            with_query(
                str(values[REQUEST_URI]),
                {"api-version": API_VERSION, "serviceConnectionId": str(values[SERVICE_CONNECTION_ID])},
            ),
            {
                "Authorization": f"Bearer {values[ACCESS_TOKEN]}",
                "X-TFS-FedAuthRedirect": "Suppress",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            "oidcToken",
        )
