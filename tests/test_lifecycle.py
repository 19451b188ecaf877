"""azure-identity's lifecycle and options, for both credentials: ``with`` and ``close()`` drive a
caller's transport, a closed credential reopens, the aio credential takes an AsyncHttpTransport, and
``policies=`` reach the token requests."""

from __future__ import annotations

import asyncio
from typing import Any, List

import pytest
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.core.pipeline.transport import AioHttpTransport, RequestsTransport
from azure.identity import ChainedTokenCredential, ClientAssertionCredential
from azure.identity.aio import ChainedTokenCredential as AioChainedTokenCredential

from azure_wif_credential import FederatedTokenCredential
from azure_wif_credential.aio import FederatedTokenCredential as AioFederatedTokenCredential
from azure_wif_credential.sandbox import Sandbox

STORAGE = "https://storage.azure.com/.default"
VAULT = "https://vault.azure.net/.default"
SUBJECT = "system:serviceaccount:lifecycle:app"


class SpyTransport(RequestsTransport):  # type: ignore[misc]
    """A RequestsTransport that counts what the credential does with it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entered = self.exited = self.sent = 0

    def __enter__(self) -> SpyTransport:
        self.entered += 1
        super().__enter__()
        return self

    def __exit__(self, *args: Any) -> None:
        self.exited += 1
        super().__exit__(*args)

    def send(self, request: Any, **kwargs: Any) -> Any:
        self.sent += 1
        return super().send(request, **kwargs)


class SpyAioTransport(AioHttpTransport):  # type: ignore[misc]
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entered = self.exited = self.sent = 0

    async def __aenter__(self) -> SpyAioTransport:
        self.entered += 1
        await super().__aenter__()
        return self

    async def __aexit__(self, *args: Any) -> None:
        self.exited += 1
        await super().__aexit__(*args)

    async def send(self, request: Any, **kwargs: Any) -> Any:
        self.sent += 1
        return await super().send(request, **kwargs)


class RecordingPolicy(SansIOHTTPPolicy[Any, Any]):
    def __init__(self) -> None:
        self.urls: List[str] = []

    def on_request(self, request: PipelineRequest[Any]) -> None:
        self.urls.append(request.http_request.url)


def _arguments(sandbox: Sandbox, **kwargs: Any) -> dict[str, Any]:
    app = sandbox.register_app(subject=SUBJECT)
    return dict(
        tenant_id=app.tenant_id,
        client_id=app.client_id,
        assertion=lambda: sandbox.issue_assertion(subject=SUBJECT),
        authority=sandbox.authority,
        **kwargs,
    )


def test_with_enters_the_callers_transport_and_close_closes_it_even_unused(sandbox: Sandbox) -> None:
    ours = SpyTransport(connection_verify=sandbox.ca_file)
    with FederatedTokenCredential(**_arguments(sandbox, transport=ours)):
        assert (ours.entered, ours.exited) == (1, 0)
    assert (ours.entered, ours.exited, ours.sent) == (1, 1, 0)

    # azure-identity does the same with the same transport type: the behaviour we match.
    theirs = SpyTransport(connection_verify=sandbox.ca_file)
    arguments = _arguments(sandbox, transport=theirs)
    with ClientAssertionCredential(
        arguments["tenant_id"],
        arguments["client_id"],
        arguments["assertion"],
        authority=sandbox.authority,
        transport=theirs,
        disable_instance_discovery=True,
    ):
        assert (theirs.entered, theirs.exited) == (1, 0)
    assert (theirs.entered, theirs.exited) == (1, 1)

    unused = SpyTransport(connection_verify=sandbox.ca_file)
    FederatedTokenCredential(**_arguments(sandbox, transport=unused)).close()
    assert unused.exited == 1, "close() closes a transport the credential never used"


def test_the_token_requests_go_through_the_callers_transport(sandbox: Sandbox) -> None:
    transport = SpyTransport(connection_verify=sandbox.ca_file)
    with FederatedTokenCredential(**_arguments(sandbox, transport=transport)) as credential:
        assert sandbox.verify_access_token(credential.get_token(STORAGE).token)
    assert transport.sent >= sandbox.request_count("token") == 1


@pytest.mark.parametrize("flavour", ["sync", "aio"])
def test_a_closed_credential_reopens_when_used_again(sandbox: Sandbox, flavour: str) -> None:
    arguments = _arguments(sandbox, connection_verify=sandbox.ca_file)
    if flavour == "sync":
        credential = FederatedTokenCredential(**arguments)
        with ChainedTokenCredential(credential) as chain:  # the chain's `with` closes its members
            chain.get_token(STORAGE)
        assert sandbox.verify_access_token(credential.get_token(VAULT).token)
        credential.close()
        credential.close()
        assert sandbox.verify_access_token(credential.get_token("https://graph.microsoft.com/.default").token)
        return

    async def run() -> None:
        credential = AioFederatedTokenCredential(**arguments)
        async with AioChainedTokenCredential(credential) as chain:
            await chain.get_token(STORAGE)
        assert sandbox.verify_access_token((await credential.get_token(VAULT)).token)
        await credential.close()
        assert sandbox.verify_access_token((await credential.get_token(VAULT, enable_cae=True)).token)
        await credential.close()

    asyncio.run(run())


def test_a_callers_closed_transport_is_explained_not_a_runtime_error(sandbox: Sandbox) -> None:
    transport = RequestsTransport(connection_verify=sandbox.ca_file)
    credential = FederatedTokenCredential(**_arguments(sandbox, transport=transport, retry_total=0))
    with credential:
        credential.get_token(STORAGE)
    with pytest.raises(Exception, match="transport= is closed") as raised:
        credential.get_token(VAULT)
    assert not isinstance(raised.value, RuntimeError)


def test_the_aio_credential_uses_an_async_http_transport(sandbox: Sandbox) -> None:
    async def run() -> None:
        transport = SpyAioTransport(connection_verify=sandbox.ca_file)
        async with AioFederatedTokenCredential(**_arguments(sandbox, transport=transport)) as credential:
            assert transport.entered == 1
            token = await credential.get_token(STORAGE)
            again = await credential.get_token_info(STORAGE)
        assert sandbox.verify_access_token(token.token)
        assert again.token == token.token
        assert transport.exited == 1
        assert transport.sent >= sandbox.request_count("token") == 1

    asyncio.run(run())


def test_the_aio_credential_still_takes_a_sync_transport(sandbox: Sandbox) -> None:
    async def run() -> None:
        transport = SpyTransport(connection_verify=sandbox.ca_file)
        async with AioFederatedTokenCredential(**_arguments(sandbox, transport=transport)) as credential:
            assert sandbox.verify_access_token((await credential.get_token(STORAGE)).token)
        assert (transport.entered, transport.exited) == (1, 1) and transport.sent >= 1

    asyncio.run(run())


def test_a_transport_of_the_wrong_kind_is_a_type_error(sandbox: Sandbox) -> None:
    with pytest.raises(TypeError, match=r"async transport.*RequestsTransport"):
        FederatedTokenCredential(**_arguments(sandbox, transport=AioHttpTransport()))
    for flavour in (FederatedTokenCredential, AioFederatedTokenCredential):
        with pytest.raises(TypeError, match="transport must be an azure-core HttpTransport"):
            flavour(**_arguments(sandbox, transport=object()))


@pytest.mark.parametrize("flavour", ["sync", "aio"])
def test_policies_are_applied_to_the_token_requests(sandbox: Sandbox, flavour: str) -> None:
    policy = RecordingPolicy()
    arguments = _arguments(sandbox, connection_verify=sandbox.ca_file, policies=[policy])
    if flavour == "sync":
        with FederatedTokenCredential(**arguments) as credential:
            credential.get_token(STORAGE)
    else:

        async def run() -> None:
            async with AioFederatedTokenCredential(**arguments) as credential:
                await credential.get_token(STORAGE)

        asyncio.run(run())
    token_requests = [url for url in policy.urls if url.endswith("/oauth2/v2.0/token")]
    assert len(token_requests) == sandbox.request_count("token") == 1
    with pytest.raises(TypeError, match="policies must be a list"):
        FederatedTokenCredential(**_arguments(sandbox, policies=policy))


def test_aio_from_environment_with_an_async_transport_serves_the_github_source_too(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CI source is synchronous: it gets the credential's options (connection_verify) but builds its
    own transport, while the token exchange goes through the caller's AsyncHttpTransport."""
    subject = "repo:contoso/lifecycle:ref:refs/heads/main"
    app = sandbox.register_app(subject=subject, issuer=sandbox.github_issuer)
    env = sandbox.github_actions_env(repository="contoso/lifecycle")
    env.update(AZURE_TENANT_ID=app.tenant_id, AZURE_CLIENT_ID=app.client_id)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AZURE_FEDERATED_TOKEN_FILE", raising=False)

    async def run() -> None:
        transport = SpyAioTransport(connection_verify=sandbox.ca_file)
        credential = AioFederatedTokenCredential.from_environment(
            authority=sandbox.authority, connection_verify=sandbox.ca_file, transport=transport
        )
        async with credential:
            token = await credential.get_token(STORAGE)
        assert sandbox.verify_access_token(token.token)
        assert transport.sent >= sandbox.request_count("token") == 1

    asyncio.run(run())
