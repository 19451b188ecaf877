"""GitHub Actions: the job's OIDC token, requested from the runner's token service at each call."""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional

from .._environment import authority_host
from .._errors import credential_unavailable
from ._base import AudienceSource
from ._token_endpoint import TokenEndpointClient, check_pipeline_options, with_query

REQUEST_URL = "ACTIONS_ID_TOKEN_REQUEST_URL"
REQUEST_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"


class GitHubActionsAssertion(AudienceSource):
    """The GitHub Actions job's OIDC token, freshly requested at every call.

    GET ``$ACTIONS_ID_TOKEN_REQUEST_URL`` with ``audience`` added to its query and
    ``Authorization: Bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN``; the token is the JSON field ``value``.
    GitHub sets both variables only in jobs granted ``permissions: id-token: write``; without them a
    call raises :class:`~azure.identity.CredentialUnavailableError` saying so. 5xx and 429 answers are
    retried with backoff; other failures raise :class:`~azure.core.exceptions.ClientAuthenticationError`
    with the status and GitHub's message.

    GitHub's tokens live minutes while a job may run for hours: asking per exchange (the credential
    exchanges about once an hour) keeps a long job working. Wrap in
    :class:`~azure_wif_credential.assertions.ReusedAssertion` to ask at most once per token lifetime.

    :param audience: the ``aud`` to request; by default the one Entra expects for ``authority``'s cloud.
    :keyword authority: Entra login host (or URL); defaults to ``AZURE_AUTHORITY_HOST``. Only chooses the
        default audience: ``api://AzureADTokenExchangeUSGov`` for ``login.microsoftonline.us``,
        ``api://AzureADTokenExchangeChina`` for ``login.chinacloudapi.cn``, else ``api://AzureADTokenExchange``.
    :keyword environ: where to read the variables (default: ``os.environ`` at each call).
    :keyword pipeline_options: azure-core options: ``transport``, ``connection_verify``, ``proxies``,
        ``connection_timeout``, ``read_timeout``, ``retry_*`` ...
    """

    def __init__(
        self,
        audience: Optional[str] = None,
        *,
        authority: Optional[str] = None,
        environ: Optional[Mapping[str, str]] = None,
        **pipeline_options: Any,
    ) -> None:
        check_pipeline_options(pipeline_options, type(self).__name__)
        self._environ = environ
        env = os.environ if environ is None else environ
        self._choose_audience(audience, authority or authority_host(env))
        self._client = TokenEndpointClient("GitHub Actions' OIDC token endpoint", **pipeline_options)

    def __call__(self) -> str:
        env = os.environ if self._environ is None else self._environ
        url, token = env.get(REQUEST_URL), env.get(REQUEST_TOKEN)
        if not url or not token:
            missing = " and ".join(
                name for name, value in ((REQUEST_URL, url), (REQUEST_TOKEN, token)) if not value
            )
            raise credential_unavailable(
                f"GitHub Actions OIDC is not available: {missing} not set. GitHub sets them only in "
                "jobs allowed to request an ID token: add `permissions: id-token: write` to the workflow "
                "or job (pull requests from forks never get one)."
            )
        return self._client.request_token(
            "GET",
            with_query(url, {"audience": self._audience}),
            {"Authorization": f"Bearer {token}", "Accept": "application/json"},
            "value",
        )
