"""AKS identity bindings (``enable_azure_proxy=True``) against the sandbox's token proxy: its own CA and
SNI name, rotation of that CA, and every configuration error azure-identity raises, side by side."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Dict

import azure.identity
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import WorkloadIdentityCredential
from helpers import pod_environment, sandbox_credential

from azure_wif_credential import FederatedTokenCredential
from azure_wif_credential.aio import FederatedTokenCredential as AioFederatedTokenCredential
from azure_wif_credential.sandbox import Sandbox

SUBJECT = "system:serviceaccount:bound:app"
STORAGE = "https://storage.azure.com/.default"
VAULT = "https://vault.azure.net/.default"
GRAPH = "https://graph.microsoft.com/.default"
PROXY_VARIABLES = (
    "AZURE_KUBERNETES_TOKEN_PROXY",
    "AZURE_KUBERNETES_SNI_NAME",
    "AZURE_KUBERNETES_CA_FILE",
    "AZURE_KUBERNETES_CA_DATA",
)


@pytest.fixture
def bound(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Dict[str, str]:
    """A pod with an identity binding: the proxy's variables set."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    env = sandbox.azure_proxy_env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def make(sandbox: Sandbox, kind: Any = FederatedTokenCredential, **kwargs: Any) -> Any:
    app = sandbox.register_app(subject=SUBJECT)
    kwargs.setdefault("enable_azure_proxy", True)
    return kind(
        app.tenant_id,
        app.client_id,
        assertion=lambda: sandbox.issue_assertion(subject=SUBJECT),
        authority=sandbox.authority,
        retry_total=0,
        **kwargs,
    )


def test_token_requests_go_to_the_proxy_not_to_entra(sandbox: Sandbox, bound: Dict[str, str]) -> None:
    with make(sandbox) as credential:
        assert sandbox.verify_access_token(credential.get_token(STORAGE).token)
    assert sandbox.request_count("token") == 0 and sandbox.request_count("openid-configuration") == 0
    proxied = sandbox.recorded("azure-proxy")
    assert [r.method for r in proxied] == ["GET", "POST"], "discovery then the token request"
    assert all(r.path.startswith("/identity-binding/") for r in proxied), "the proxy's path joined in front"


def test_the_aio_credential_uses_the_proxy_too(sandbox: Sandbox, bound: Dict[str, str]) -> None:
    async def run() -> str:
        async with make(sandbox, AioFederatedTokenCredential) as credential:
            token: str = (await credential.get_token(STORAGE)).token
            return token

    assert sandbox.verify_access_token(asyncio.run(run()))
    assert sandbox.request_count("token") == 0 and sandbox.request_count("azure-proxy") == 2


def test_the_proxy_ca_file_is_reread_when_it_rotates_and_an_empty_file_keeps_the_old_ca(
    sandbox: Sandbox, bound: Dict[str, str]
) -> None:
    ca_file = Path(bound["AZURE_KUBERNETES_CA_FILE"])
    try:
        with make(sandbox) as credential:
            credential.get_token(STORAGE)
            old_ca = ca_file.read_text()
            ca_file.write_text("")  # mid-rotation: the file is truncated before the new CA is written
            assert sandbox.verify_access_token(credential.get_token(VAULT).token), "the old CA is kept"
            ca_file.write_text(old_ca)
            sandbox.rotate_azure_proxy_ca(publish=False)  # the proxy rotated; the pod's file not yet
            with pytest.raises(ClientAuthenticationError):
                credential.get_token("https://management.azure.com/.default")
            sandbox.rotate_azure_proxy_ca()  # a new certificate, and its CA in the file
            assert sandbox.verify_access_token(credential.get_token(GRAPH).token), "the new CA is read"
    finally:
        sandbox.rotate_azure_proxy_ca()  # the session's sandbox: server and file agree again


def test_ca_data_instead_of_a_ca_file(
    sandbox: Sandbox, bound: Dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZURE_KUBERNETES_CA_FILE")
    monkeypatch.setenv("AZURE_KUBERNETES_CA_DATA", Path(bound["AZURE_KUBERNETES_CA_FILE"]).read_text())
    with make(sandbox) as credential:
        assert sandbox.verify_access_token(credential.get_token(STORAGE).token)


def test_a_wrong_sni_name_is_refused(
    sandbox: Sandbox, bound: Dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_KUBERNETES_SNI_NAME", "someone-else.sandbox.test")
    with make(sandbox) as credential, pytest.raises(ClientAuthenticationError):
        credential.get_token(STORAGE)
    assert sandbox.request_count("azure-proxy") == 0


def test_without_the_sni_name_the_proxys_certificate_does_not_match(
    sandbox: Sandbox, bound: Dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZURE_KUBERNETES_SNI_NAME")
    with make(sandbox) as credential, pytest.raises(ClientAuthenticationError):
        credential.get_token(STORAGE)


def test_the_proxy_refuses_what_is_not_a_token_request(sandbox: Sandbox, bound: Dict[str, str]) -> None:
    from azure.core.rest import HttpRequest

    from azure_wif_credential._azure_proxy import AzureProxyTransport, proxy_settings

    settings = proxy_settings()
    assert settings is not None
    with AzureProxyTransport(settings) as transport:
        response = transport.send(HttpRequest("GET", f"{sandbox.authority}/common/discovery/keys"))
    assert response.status_code == 404 and sandbox.request_count("azure-proxy-refused") == 1


def test_without_enable_azure_proxy_the_variables_are_ignored(
    sandbox: Sandbox, bound: Dict[str, str]
) -> None:
    app = sandbox.register_app(subject=SUBJECT)
    with sandbox_credential(sandbox, app, SUBJECT) as credential:
        credential.get_token(STORAGE)
    assert sandbox.request_count("token") == 1 and sandbox.request_count("azure-proxy") == 0


def test_from_environment_enables_the_proxy_with_azure_wif_enable_azure_proxy(
    sandbox: Sandbox, bound: Dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app = sandbox.register_app(subject=SUBJECT)
    pod_environment(
        monkeypatch,
        sandbox,
        app,
        tmp_path / "token",
        subject=SUBJECT,
        AZURE_AUTHORITY_HOST=sandbox.authority,
        AZURE_WIF_ENABLE_AZURE_PROXY="true",
    )
    with FederatedTokenCredential.from_environment() as credential:
        assert sandbox.verify_access_token(credential.get_token(STORAGE).token)
    assert sandbox.request_count("azure-proxy") == 2


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"AZURE_KUBERNETES_CA_DATA": "x"},
            "Both AZURE_KUBERNETES_CA_FILE and AZURE_KUBERNETES_CA_DATA are set",
        ),
        ({"AZURE_KUBERNETES_TOKEN_PROXY": "http://127.0.0.1:1/p"}, "must use the 'https' scheme"),
        (
            {"AZURE_KUBERNETES_TOKEN_PROXY": "https://user:pw@127.0.0.1:1/p"},
            "must not contain username or password",
        ),
        ({"AZURE_KUBERNETES_TOKEN_PROXY": "https://127.0.0.1:1/p?x=1"}, "must not contain query parameters"),
        ({"AZURE_KUBERNETES_TOKEN_PROXY": "https://127.0.0.1:1/p#f"}, "must not contain a fragment"),
        ({"AZURE_KUBERNETES_TOKEN_PROXY": ""}, "AZURE_KUBERNETES_TOKEN_PROXY is not set but other"),
        ({"AZURE_KUBERNETES_CA_FILE": "EMPTY"}, "is empty"),
    ],
    ids=["ca-file-and-data", "http", "userinfo", "query", "fragment", "no-proxy", "empty-ca-file"],
)
def test_the_configuration_errors_azure_identity_raises(
    sandbox: Sandbox,
    bound: Dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    variables: Dict[str, str],
    message: str,
) -> None:
    for name, value in variables.items():
        if value == "EMPTY":
            (tmp_path / "empty.pem").write_text("")
            value = str(tmp_path / "empty.pem")
        monkeypatch.setenv(name, value) if value else monkeypatch.delenv(name)
    with pytest.raises(ValueError, match=message.replace("?", "\\?").replace("(", "\\(")):
        make(sandbox)
    if _version(azure.identity.__version__) < (1, 27):  # enable_azure_proxy came with azure-identity 1.27
        return
    token_file = tmp_path / "token"
    token_file.write_text("x")
    with pytest.raises(ValueError, match=r"\w") as theirs:  # azure-identity 1.27 refuses it too
        WorkloadIdentityCredential(
            tenant_id="t", client_id="c", token_file_path=str(token_file), enable_azure_proxy=True
        )
    assert message.split(" (")[0][:30] in str(theirs.value) or "empty" in str(theirs.value)
    assert not os.environ.get("AZURE_KUBERNETES_CA_DATA") or "AZURE_KUBERNETES_CA_DATA" in variables


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


def test_enable_azure_proxy_with_a_transport_is_refused(sandbox: Sandbox, bound: Dict[str, str]) -> None:
    from azure.core.pipeline.transport import RequestsTransport

    with pytest.raises(ValueError, match="do not pass transport="):
        make(sandbox, transport=RequestsTransport())
    with pytest.raises(TypeError, match="enable_azure_proxy must be True or False"):
        make(sandbox, enable_azure_proxy="yes")


@pytest.mark.parametrize("swapped_for", ["a FIFO", "a directory", "a device"])
def test_a_proxy_ca_file_swapped_for_something_that_blocks_keeps_the_old_ca(
    swapped_for: str, sandbox: Sandbox, bound: Dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FIFO nobody writes, a directory or an endless device in the CA file's place never blocks or
    floods the credential: the CA already loaded is kept."""
    import os

    ca_copy = tmp_path / "ca.pem"
    ca_copy.write_text(Path(bound["AZURE_KUBERNETES_CA_FILE"]).read_text())
    monkeypatch.setenv("AZURE_KUBERNETES_CA_FILE", str(ca_copy))
    with make(sandbox) as credential:
        credential.get_token(STORAGE)
        ca_copy.unlink()
        if swapped_for == "a FIFO":
            os.mkfifo(ca_copy)
        elif swapped_for == "a directory":
            ca_copy.mkdir()
        else:
            ca_copy.symlink_to("/dev/zero")
        assert sandbox.verify_access_token(credential.get_token(VAULT).token), "the old CA is kept"
