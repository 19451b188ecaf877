"""The CI sources' HTTPS behaviour, for GitHub Actions and Azure Pipelines alike, against the sandbox.

Both sources share one HTTP client, so each failure mode is specified once for both platforms:
retries (5xx, 429 with Retry-After), rejections with the platform's message, timeouts, TLS trust,
proxies, a caller's transport, and answers that are not the expected JSON.
"""

from __future__ import annotations

import http.server
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable

import certifi
import jwt
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.core.pipeline.transport import RequestsTransport

from azure_wif_credential.assertions import AzurePipelinesAssertion, GitHubActionsAssertion
from azure_wif_credential.sandbox import Sandbox

FAST_RETRIES = {"retry_backoff_factor": 0.01, "retry_backoff_max": 0.05}


@dataclass(frozen=True)
class Platform:
    endpoint: str  # the sandbox's endpoint name
    url_variable: str
    secret_variable: str
    field: str
    make_env: Callable[[Sandbox], dict[str, str]]
    make_source: Callable[..., Callable[[], str]]
    issuer: Callable[[Sandbox], str]


PLATFORMS = [
    Platform(
        "github",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "value",
        lambda sandbox: sandbox.github_actions_env(),
        GitHubActionsAssertion,
        lambda sandbox: sandbox.github_issuer,
    ),
    Platform(
        "pipelines",
        "SYSTEM_OIDCREQUESTURI",
        "SYSTEM_ACCESSTOKEN",
        "oidcToken",
        lambda sandbox: sandbox.azure_pipelines_env(),
        AzurePipelinesAssertion,
        lambda sandbox: sandbox.pipelines_issuer,
    ),
]


@pytest.fixture(params=PLATFORMS, ids=[platform.endpoint for platform in PLATFORMS])
def platform(request: pytest.FixtureRequest) -> Platform:
    chosen: Platform = request.param
    return chosen


@pytest.fixture
def job(sandbox: Sandbox, platform: Platform, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A CI job's environment, set in os.environ as the platform would."""
    env = platform.make_env(sandbox)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def source(sandbox: Sandbox, platform: Platform, **options: Any) -> Callable[[], str]:
    options.setdefault("connection_verify", sandbox.ca_file)
    return platform.make_source(**{**FAST_RETRIES, **options})


def issuer_of(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["iss"])


def test_token_is_fetched_over_https_from_the_platform(
    sandbox: Sandbox, platform: Platform, job: dict[str, str]
) -> None:
    assert issuer_of(source(sandbox, platform)()) == platform.issuer(sandbox)
    assert sandbox.request_count(platform.endpoint) == 1


def test_every_call_fetches_a_fresh_token(sandbox: Sandbox, platform: Platform, job: dict[str, str]) -> None:
    fetch = source(sandbox, platform)
    assert fetch() != fetch()
    assert sandbox.request_count(platform.endpoint) == 2


def test_rejected_request_token_reports_status_and_platform_message_without_secrets(
    sandbox: Sandbox, platform: Platform, job: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(platform.secret_variable, "not-this-jobs-token")
    with pytest.raises(ClientAuthenticationError) as caught:
        source(sandbox, platform)()
    message = caught.value.message
    assert "HTTP 401" in message
    expected = "Bad credentials" if platform.endpoint == "github" else "TF400813"
    assert expected in message
    assert "not-this-jobs-token" not in message
    assert job[platform.secret_variable] not in message
    assert sandbox.request_count(platform.endpoint) == 1  # a 401 is not retried


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_until_success(
    sandbox: Sandbox, platform: Platform, job: dict[str, str], status: int
) -> None:
    sandbox.fail_next(2, status=status, endpoint=platform.endpoint)
    assert issuer_of(source(sandbox, platform)()) == platform.issuer(sandbox)
    assert sandbox.request_count(platform.endpoint) == 3


def test_throttling_with_retry_after_is_retried(
    sandbox: Sandbox, platform: Platform, job: dict[str, str]
) -> None:
    sandbox.fail_next(1, status=429, retry_after=1, endpoint=platform.endpoint)
    assert issuer_of(source(sandbox, platform)()) == platform.issuer(sandbox)
    assert sandbox.request_count(platform.endpoint) == 2


def test_persistent_server_errors_give_up_with_the_status_and_message(
    sandbox: Sandbox, platform: Platform, job: dict[str, str]
) -> None:
    sandbox.fail_next(10, status=503, endpoint=platform.endpoint)
    with pytest.raises(
        ClientAuthenticationError, match=r"answered HTTP 503 Service Unavailable: Injected fault"
    ):
        source(sandbox, platform, retry_total=2)()
    assert sandbox.request_count(platform.endpoint) == 3


def test_a_slow_endpoint_fails_at_the_read_timeout(
    sandbox: Sandbox, platform: Platform, job: dict[str, str]
) -> None:
    sandbox.set_latency(5, endpoint=platform.endpoint)
    with pytest.raises(ClientAuthenticationError, match=r"did not answer within read_timeout=0\.3 s"):
        source(sandbox, platform, read_timeout=0.3, retry_total=1)()


def test_a_dropped_connection_is_retried(sandbox: Sandbox, platform: Platform, job: dict[str, str]) -> None:
    sandbox.drop_next(1, endpoint=platform.endpoint)
    assert issuer_of(source(sandbox, platform)()) == platform.issuer(sandbox)
    assert sandbox.request_count(platform.endpoint) == 2


def test_connection_verify_wins_over_requests_ca_bundle(
    sandbox: Sandbox, platform: Platform, job: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())  # does not know the sandbox's CA
    monkeypatch.setenv("CURL_CA_BUNDLE", certifi.where())
    assert issuer_of(source(sandbox, platform)()) == platform.issuer(sandbox)


def test_requests_ca_bundle_is_honoured_without_connection_verify(
    sandbox: Sandbox, platform: Platform, job: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sandbox.ca_file)
    assert issuer_of(platform.make_source()()) == platform.issuer(sandbox)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    monkeypatch.setenv("CURL_CA_BUNDLE", certifi.where())
    with pytest.raises(ClientAuthenticationError, match=r"could not reach .*CERTIFICATE_VERIFY_FAILED"):
        platform.make_source(retry_total=0)()


def test_proxies_are_used(sandbox: Sandbox, platform: Platform, job: dict[str, str]) -> None:
    dead_proxy = {"https": "http://127.0.0.1:9"}  # discard port: nothing listens
    with pytest.raises(ClientAuthenticationError, match="could not reach"):
        source(sandbox, platform, proxies=dead_proxy, retry_total=0)()
    assert sandbox.request_count(platform.endpoint) == 0


def test_a_callers_transport_is_used_and_left_open(
    sandbox: Sandbox, platform: Platform, job: dict[str, str]
) -> None:
    with RequestsTransport(connection_verify=sandbox.ca_file) as transport:
        fetch = platform.make_source(transport=transport)
        fetch()
        fetch()
        assert transport.session is not None
    assert sandbox.request_count(platform.endpoint) == 2


# --- answers that are not the expected JSON (a plain-http loopback server: allowed for loopback) ---


class _Answer(http.server.BaseHTTPRequestHandler):
    answer: tuple[int, str, bytes] = (200, "application/json", b"{}")

    def _reply(self) -> None:
        status, content_type, body = self.answer
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _reply

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def answering(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[int, str, bytes], None]]:
    """Point the platform's variables at a loopback server and set what it answers."""

    class Handler(_Answer):
        pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(platform.url_variable, f"http://127.0.0.1:{server.server_address[1]}/token")
    monkeypatch.setenv(platform.secret_variable, "request-secret")
    if platform.endpoint == "pipelines":
        monkeypatch.setenv("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", "connection")

    def answer(status: int, content_type: str, body: bytes) -> None:
        Handler.answer = (status, content_type, body)

    yield answer
    server.shutdown()
    server.server_close()
    thread.join()


TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


def test_plain_http_is_allowed_for_loopback_hosts(
    platform: Platform, answering: Callable[[int, str, bytes], None]
) -> None:
    answering(200, "application/json", json.dumps({platform.field: TOKEN}).encode())
    assert platform.make_source()() == TOKEN


def test_a_body_that_is_not_json_is_an_error_without_token_text(
    platform: Platform, answering: Callable[[int, str, bytes], None]
) -> None:
    answering(200, "text/html", f"<html>Sign in to continue {TOKEN}</html>".encode())
    with pytest.raises(
        ClientAuthenticationError, match=r"HTTP 200 with a body that is not JSON \(text/html\)"
    ) as caught:
        platform.make_source()()
    assert "Sign in to continue" in caught.value.message
    assert TOKEN not in caught.value.message


@pytest.mark.parametrize(
    ("document", "present"),
    [({"count": 1}, "count"), ({"value": "", "oidcToken": ""}, "oidcToken, value"), ([TOKEN], "list")],
)
def test_json_without_the_token_field_names_what_it_has(
    platform: Platform, answering: Callable[[int, str, bytes], None], document: Any, present: str
) -> None:
    answering(200, "application/json", json.dumps(document).encode())
    with pytest.raises(ClientAuthenticationError) as caught:
        platform.make_source()()
    message = caught.value.message
    assert f"without a token in the JSON field '{platform.field}'" in message
    assert f"(the response has: {present})" in message
    assert TOKEN not in message


def test_an_error_body_that_is_not_json_is_quoted_redacted(
    platform: Platform, answering: Callable[[int, str, bytes], None]
) -> None:
    answering(403, "text/plain", f"forbidden for {TOKEN}".encode())
    with pytest.raises(ClientAuthenticationError, match="HTTP 403 Forbidden: forbidden for <redacted>"):
        platform.make_source()()


def test_logs_at_every_level_hold_neither_the_request_secret_nor_the_token(
    sandbox: Sandbox, platform: Platform, job: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.fail_next(1, status=503, endpoint=platform.endpoint)
    token = source(sandbox, platform, logging_enable=True)()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "answered HTTP 200" in logged  # the fetch was logged, without secrets
    assert job[platform.secret_variable] not in logged
    assert token not in logged
