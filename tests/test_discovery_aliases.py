"""Entra's cloud aliases: a discovery document fetched from an alias host names the cloud's preferred
host, and is accepted; a hostile document naming any other host is refused, and a custom authority
(the sandbox, ADFS, a proxy) keeps its own host only. A transport routes the cloud's host names to the
sandbox, so real MSAL runs the whole exchange against it."""

from __future__ import annotations

import json
from typing import Any, Dict
from urllib.parse import urlsplit, urlunsplit

import pytest
from azure.core.pipeline.transport import RequestsTransport

from azure_wif_credential import FederatedTokenCredential, TokenExchangeError
from azure_wif_credential._clouds import CLOUDS, same_cloud_hosts
from azure_wif_credential.sandbox import Sandbox

SUBJECT = "system:serviceaccount:default:web"
STORAGE = "https://storage.azure.com/.default"


class RoutingTransport(RequestsTransport):  # type: ignore[misc]
    """A real RequestsTransport that sends requests for the given host names to the sandbox."""

    def __init__(self, sandbox: Sandbox, hosts: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(connection_verify=sandbox.ca_file, **kwargs)
        self._target, self._hosts = urlsplit(sandbox.authority).netloc, hosts
        self.hosts_asked: list[str] = []

    def send(self, request: Any, **kwargs: Any) -> Any:
        parts = urlsplit(request.url)
        self.hosts_asked.append(parts.netloc)
        if parts.netloc in self._hosts:
            request.url = urlunsplit(parts._replace(netloc=self._target))
        return super().send(request, **kwargs)


def credential_for(sandbox: Sandbox, app: Any, authority: str, transport: Any) -> FederatedTokenCredential:
    return FederatedTokenCredential(
        app.tenant_id,
        app.client_id,
        assertion=lambda: sandbox.issue_assertion(subject=SUBJECT),
        authority=f"https://{authority}",
        disable_instance_discovery=True,
        transport=transport,
        retry_total=0,
    )


def discovery_document(host: str, tenant: str) -> Dict[str, Any]:
    base = f"https://{host}/{tenant}"
    return {
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "issuer": f"https://{host}/{tenant}/v2.0",
        "jwks_uri": f"{base}/discovery/v2.0/keys",
    }


@pytest.mark.parametrize(("alias", "preferred"), [(a, c.login_host) for c in CLOUDS for a in c.aliases])
def test_a_discovery_document_from_an_alias_naming_the_preferred_host_is_accepted(
    alias: str, preferred: str, sandbox: Sandbox
) -> None:
    app = sandbox.register_app(subject=SUBJECT)
    transport = RoutingTransport(sandbox, (alias, preferred))
    sandbox.answer_next(
        endpoint="openid-configuration", body=json.dumps(discovery_document(preferred, app.tenant_id))
    )
    with credential_for(sandbox, app, alias, transport) as credential:
        assert sandbox.verify_access_token(credential.get_token(STORAGE).token)
    assert transport.hosts_asked[0] == alias and transport.hosts_asked[-1] == preferred


@pytest.mark.parametrize(
    ("authority", "named"),
    [
        ("login.windows.net", "evil.example"),  # a public-cloud alias may not send the assertion elsewhere
        ("login.windows.net", "login.microsoftonline.us"),  # nor to another cloud
        ("login.usgovcloudapi.net", "login.microsoftonline.com"),
    ],
)
def test_a_discovery_document_naming_another_host_is_refused(
    authority: str, named: str, sandbox: Sandbox
) -> None:
    app = sandbox.register_app(subject=SUBJECT)
    transport = RoutingTransport(sandbox, (authority, named))
    sandbox.answer_next(
        endpoint="openid-configuration", body=json.dumps(discovery_document(named, app.tenant_id))
    )
    credential = credential_for(sandbox, app, authority, transport)
    with credential, pytest.raises(TokenExchangeError, match="not an https URL on"):
        credential.get_token(STORAGE)
    assert sandbox.request_count("token") == 0, "the assertion went nowhere"


def test_a_custom_authority_keeps_its_own_host(sandbox: Sandbox) -> None:
    app = sandbox.register_app(subject=SUBJECT)
    host = urlsplit(sandbox.authority).netloc
    assert same_cloud_hosts(host) == (host,)
    sandbox.answer_next(
        endpoint="openid-configuration",
        body=json.dumps(discovery_document("login.microsoftonline.com", app.tenant_id)),
    )
    credential = FederatedTokenCredential(
        app.tenant_id,
        app.client_id,
        assertion=lambda: sandbox.issue_assertion(subject=SUBJECT),
        authority=sandbox.authority,
        connection_verify=sandbox.ca_file,
        retry_total=0,
    )
    with credential, pytest.raises(TokenExchangeError, match="not an https URL on"):
        credential.get_token(STORAGE)
