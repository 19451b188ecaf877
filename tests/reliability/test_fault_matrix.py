"""The fault matrix: every fault Entra or the network can throw, in every state a cached token can be
in, for both credentials. Each cell asserts its outcome (the cached token served, or a typed error),
and that the credential recovers once the fault clears. A token that has not expired is always served
rather than an error, also in the mandatory window; an expired one never is."""

from __future__ import annotations

import socket
from typing import Any, Callable, Dict

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.core.pipeline.transport import RequestsTransport
from helpers import VirtualClock

from azure_wif_credential import TokenExchangeError
from azure_wif_credential.sandbox import Sandbox

from .conftest import STORAGE, Driver

#: Seconds after the first token (lifetime 3600 s, refresh_on at 3000 s, mandatory from 3480 s).
STATES: Dict[str, int] = {"no token": 0, "fresh": 10, "advisory": 3100, "mandatory": 3500, "expired": 3700}
#: Each fault, and whether trying again later may succeed.
RETRYABLE = {
    "500": True,
    "503 + Retry-After": True,
    "429 + Retry-After": True,
    "read timeout": True,
    "dropped connection": True,
    "refused connection": True,
    "garbage body": True,
    "redirect": False,
}
PERSISTENT = 50  # more requests than any cell makes: the fault lasts until it is cleared


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SwitchableTransport(RequestsTransport):  # type: ignore[misc]
    """A real RequestsTransport; while ``refusing``, each request goes to a loopback port where nothing
    listens, so the operating system refuses the connection."""

    refusing = False

    def send(self, request: Any, **kwargs: Any) -> Any:
        if self.refusing:
            _host, _, rest = request.url.partition("//")[2].partition("/")
            request.url = f"https://127.0.0.1:{_closed_port()}/{rest}"
        return super().send(request, **kwargs)


def inject(fault: str, sandbox: Sandbox, transport: SwitchableTransport) -> None:
    actions: Dict[str, Callable[[], None]] = {
        "500": lambda: sandbox.fail_next(PERSISTENT, status=500),
        "503 + Retry-After": lambda: sandbox.fail_next(PERSISTENT, status=503, retry_after=1),
        "429 + Retry-After": lambda: sandbox.fail_next(PERSISTENT, status=429, retry_after=1),
        "read timeout": lambda: sandbox.set_latency(30),
        "dropped connection": lambda: sandbox.drop_next(PERSISTENT),
        "refused connection": lambda: setattr(transport, "refusing", True),
        "garbage body": lambda: sandbox.answer_next(
            PERSISTENT, body=b"\x00\xff<html>garbage", content_type="text/html"
        ),
        "redirect": lambda: sandbox.answer_next(
            PERSISTENT, status=302, headers=[("Location", "https://login.example.invalid/elsewhere")]
        ),
    }
    actions[fault]()


@pytest.mark.parametrize("state", list(STATES))
@pytest.mark.parametrize("fault", list(RETRYABLE))
def test_fault_matrix_cell(
    flavour: str,
    fault: str,
    state: str,
    sandbox: Sandbox,
    make_driver: Callable[..., Driver],
    clock: VirtualClock,
) -> None:
    transport = SwitchableTransport(connection_verify=sandbox.ca_file)
    driver = make_driver(flavour, transport=transport, read_timeout=0.5)
    first = None
    if state != "no token":
        first = driver.get_token_info(STORAGE)
        clock.advance(STATES[state])
    before = sandbox.request_count("token")

    inject(fault, sandbox, transport)
    if state in ("fresh", "advisory", "mandatory"):
        assert first is not None
        assert driver.get_token_info(STORAGE).token == first.token, "the cached token is served"
        if state == "fresh":
            assert sandbox.request_count("token") == before, "a fresh token needs no request"
        elif state == "mandatory":  # the refresh failed in the caller's time; the token is still valid
            assert driver.warnings.count >= 1, "the failure was logged as a WARNING"
            assert driver.get_token_info(STORAGE).token == first.token, "still served during the hold"
        else:
            driver.until(lambda: driver.warnings.count >= 1)  # the one background refresh failed, and ended
            assert driver.get_token_info(STORAGE).token == first.token, "still served during the backoff"
    else:
        with pytest.raises(ClientAuthenticationError) as caught:
            driver.get_token_info(STORAGE)
        assert isinstance(caught.value, TokenExchangeError), repr(caught.value)
        assert caught.value.retryable is RETRYABLE[fault], str(caught.value)

    sandbox.reset()
    transport.refusing = False
    clock.advance(3700)  # past the expiry of anything cached: only a new token will do
    info = driver.get_token_info(STORAGE)
    assert sandbox.verify_access_token(info.token)
    assert info.expires_on > clock.now
    assert first is None or info.token != first.token
