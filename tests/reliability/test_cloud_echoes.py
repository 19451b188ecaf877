"""Cloud sources under hostile endpoints: an AWS STS error echoing the session token (or a part of it),
an App Service endpoint echoing its identity header, and an endpoint that accepts and never answers.
The secret never shows; the call ends within its deadline, as a typed error."""

from __future__ import annotations

import socket
import threading
import time
from typing import Dict, Iterator

import pytest
from azure.core.exceptions import ClientAuthenticationError

from azure_wif_credential.assertions import AwsWebIdentityAssertion, ManagedIdentityAssertion
from azure_wif_credential.sandbox import Sandbox

from .test_leaks import describe

#: Shaped like a real STS session token: base64 with '/' and '+', so no run is 60 characters long.
SESSION_TOKEN = "/".join(["IQoJb3JpZ2luX2VjEKz" + str(n) * 20 + "+AbCdEfGh" for n in range(8)])


def _use(monkeypatch: pytest.MonkeyPatch, env: Dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(
    "echo",
    [
        "{amz_security_token}",
        "token was {amz_security_token} and that is wrong",
        "first part: %FIRST% only",
    ],
)
def test_an_aws_error_echoing_the_session_token_does_not_show_it(
    echo: str, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, {**sandbox.aws_env("deploy"), "AWS_SESSION_TOKEN": SESSION_TOKEN})
    message = echo.replace("%FIRST%", SESSION_TOKEN.split("/")[1])
    body = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
        f"<Code>InvalidClientTokenId</Code><Message>{message}</Message></Error>"
        "<RequestId>1</RequestId></ErrorResponse>"
    )
    sandbox.answer_next(status=403, body=body, content_type="text/xml", endpoint="aws-sts")
    with pytest.raises(ClientAuthenticationError) as caught:
        AwsWebIdentityAssertion()()
    text = describe(caught.value)
    assert "InvalidClientTokenId" in text
    for piece in SESSION_TOKEN.split("/"):
        assert piece not in text
    assert sandbox.request_count("aws-sts") == 1


@pytest.mark.parametrize("status", [400, 500])
def test_an_app_service_endpoint_echoing_the_identity_header_does_not_show_it(
    status: int, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = sandbox.managed_identity_env()
    _use(monkeypatch, env)
    sandbox.answer_next(
        3,
        status=status,
        body='{"error": "bad", "message": "you sent X-IDENTITY-HEADER {identity_header}"}',
        endpoint="managed-identity",
    )
    with pytest.raises(ClientAuthenticationError) as caught:
        ManagedIdentityAssertion(retry_total=0)()
    secret = env["IDENTITY_HEADER"]
    assert secret not in describe(caught.value)


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """An http endpoint that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/msi/token"
    stop.set()
    thread.join(5)
    for connection in held:
        connection.close()
    listener.close()


def test_a_managed_identity_endpoint_that_never_answers_ends_at_the_deadline(
    silent_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, {"IDENTITY_ENDPOINT": silent_endpoint, "IDENTITY_HEADER": "h" * 32})
    started = time.monotonic()
    with pytest.raises(ClientAuthenticationError, match="within 1 s"):
        ManagedIdentityAssertion(timeout=1, read_timeout=30)()
    assert time.monotonic() - started < 15, "bounded by timeout=, not by the 30 s read timeout"
