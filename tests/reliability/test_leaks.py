"""The leak scanner: every log record (root at DEBUG, ``logging_enable=True``: ours, MSAL's and
azure-core's), every exception's message, attributes and whole traceback, and every repr produced
across success and failure cases, searched for every secret issued in the run — exact strings and JWT
shapes. The far side echoes secrets back on purpose."""

from __future__ import annotations

import functools
import logging
import re
import sys
import traceback
from typing import Any, Callable, Iterator, List

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError

from azure_wif_credential.assertions import GitHubActionsAssertion
from azure_wif_credential.sandbox import Sandbox

from .conftest import STORAGE, SUBJECT, Driver, SandboxAssertion

JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+")
# An access token shaped like Entra's, that a malformed answer carries (our client must not show it).
FAKE_ACCESS_TOKEN = "eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJodHRwczovL3N0b3JhZ2UifQ.c2lnbmF0dXJlLXRoYXQtaXMtc2VjcmV0"


class Everything(logging.Handler):
    """Keeps every record, formatted with its traceback, as a handler of the root logger would."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def everything() -> Iterator[Everything]:
    handler = Everything()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def describe(error: BaseException) -> str:
    """Everything a user could print of an exception: message, repr, traceback (with causes) and its
    string attributes."""
    parts = [
        str(error),
        repr(error),
        "".join(traceback.format_exception(type(error), error, error.__traceback__)),
    ]
    parts.extend(str(v) for v in vars(error).values() if isinstance(v, (str, BaseException)))
    return "\n".join(parts)


def test_no_secret_in_any_log_error_traceback_or_repr(
    flavour: str, sandbox: Sandbox, make_driver: Callable[..., Driver], everything: Everything
) -> None:
    texts: List[str] = []
    secrets: List[str] = [FAKE_ACCESS_TOKEN]
    source = SandboxAssertion(sandbox)

    def attempt(driver: Driver) -> None:
        try:
            secrets.append(driver.get_token(STORAGE).token)
        except Exception as error:
            texts.append(describe(error))
        texts.append(repr(driver.credential))

    def new(**kwargs: Any) -> Driver:
        kwargs.setdefault("assertion", source)
        return make_driver(flavour, logging_enable=True, **kwargs)

    # success, and the cache hit after it
    driver = new()
    attempt(driver)
    attempt(driver)
    # Entra's error_description quotes the assertion
    sandbox.answer_next(
        status=400,
        body='{"error": "invalid_client", "error_description": "AADSTS70021: rejected {assertion}", '
        '"error_codes": [70021], "correlation_id": "{assertion}"}',
    )
    attempt(new())
    # an HTML error page holding the assertion, and a 502 with it in a JSON field MSAL would log
    sandbox.answer_next(status=500, body="<html><pre>{assertion}</pre></html>", content_type="text/html")
    attempt(new())
    sandbox.answer_next(status=502, body='{"detail": "{assertion}"}')
    attempt(new())
    # malformed 200s that hold an access token
    sandbox.answer_next(body='{"access_token": "' + FAKE_ACCESS_TOKEN + '", "expires_in": "soon"}')
    attempt(new())
    sandbox.answer_next(body="not json " + FAKE_ACCESS_TOKEN, content_type="text/plain")
    attempt(new())
    sandbox.answer_next(
        body='{"access_token": "' + FAKE_ACCESS_TOKEN + '", "token_type": "pop", "expires_in": 1}'
    )
    attempt(new())

    # a user callable whose exception text holds the JWT, also as CredentialUnavailableError
    def leaky() -> str:
        raise ValueError(f"could not use {source()}")

    def leaky_unavailable() -> str:
        raise CredentialUnavailableError(message=f"no: {source()}")

    attempt(new(assertion=leaky))
    attempt(new(assertion=leaky_unavailable))
    # a callable whose repr shows the token it will return
    attempt(new(assertion=functools.partial(str, source())))

    # GitHub's endpoint quotes the request token back in a 401, and as an HTML page
    env = sandbox.github_actions_env()
    secrets.append(env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"])
    github = GitHubActionsAssertion(environ=env, connection_verify=sandbox.ca_file, retry_total=0)
    sandbox.answer_next(status=401, endpoint="github", body='{"message": "bad token {authorization}"}')
    attempt(new(assertion=github))
    sandbox.answer_next(
        status=500, endpoint="github", body="<p>{authorization}</p>", content_type="text/html"
    )
    attempt(new(assertion=github))
    texts.append(repr(github))
    attempt(new(assertion=github))  # and a success through GitHub

    secrets.extend(source.issued)
    corpus = "\n".join(texts + everything.lines)
    assert len(everything.lines) > 20, "the scan saw the DEBUG logs"
    assert any("AADSTS70021" in text for text in texts), "the echoing answers were exercised"
    leaked = [s[:12] + "..." for s in secrets if s in corpus]
    assert leaked == [], f"{len(leaked)} secrets leaked"
    assert JWT_SHAPE.findall(corpus) == [], "nothing JWT-shaped reached a message, log or repr"
    assert any(SUBJECT in line for line in everything.lines), "claims are logged at DEBUG (what users need)"


def test_a_command_argument_marked_secret_never_shows(everything: Everything) -> None:
    from azure_wif_credential.assertions import CommandAssertion, Secret

    secret = "s3cr3t-agent-token-value"
    script = "import sys; sys.stderr.write('refused ' + sys.argv[2]); sys.exit(3)"
    source = CommandAssertion([sys.executable, "-c", script, "--token", Secret(secret)])
    with pytest.raises(ClientAuthenticationError) as caught:
        source()
    assert "exited with status 3" in str(caught.value)
    corpus = "\n".join([describe(caught.value), repr(source), *everything.lines])
    assert secret not in corpus
    assert "<redacted>" in repr(source)


def test_no_secret_on_the_round_three_surfaces(
    sandbox: Sandbox,
    make_driver: Callable[..., Driver],
    everything: Everything,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    """The leak scanner over what round 3 added: throttled and held errors, Graph's errors through the
    library and the CLI (stdout and stderr), the managed-identity endpoint and the CLI's own failures."""
    from helpers import sandbox_credential

    from azure_wif_credential._cli import main
    from azure_wif_credential.assertions import ManagedIdentityAssertion
    from azure_wif_credential.trust import FederatedIdentityCredentials

    texts: List[str] = []
    secrets: List[str] = []
    source = SandboxAssertion(sandbox)
    driver = make_driver("sync", assertion=source, logging_enable=True)

    def attempt(call: Callable[[], Any]) -> None:
        try:
            result = call()
            token = getattr(result, "token", None)
            if isinstance(token, str):
                secrets.append(token)
        except Exception as error:
            texts.append(describe(error))

    # Entra throttles, echoing the assertion in its description; then the held error, repeated
    sandbox.answer_next(
        status=429,
        body='{"error": "temporarily_unavailable", "error_description": "AADSTS90055: busy {assertion}"}',
        headers=[("Retry-After", "3600")],
    )
    attempt(lambda: driver.get_token(STORAGE))
    attempt(lambda: driver.get_token(STORAGE))
    # Graph, echoing the bearer token everywhere it could
    admin = sandbox.register_app(subject="admin", graph_roles=["Application.ReadWrite.All"])
    target = sandbox.register_app(subject=None, tenant_id=admin.tenant_id)
    graph_credential = sandbox_credential(sandbox, admin, "admin", logging_enable=True)
    secrets.append(graph_credential.get_token(f"{sandbox.graph_endpoint}/.default").token)
    fics = FederatedIdentityCredentials(
        graph_credential,
        application=target.client_id,
        graph_endpoint=sandbox.graph_endpoint,
        connection_verify=sandbox.ca_file,
        logging_enable=True,
    )
    echo = '{"error": {"code": "{authorization}", "message": "{authorization}", "innerError": {"request-id": "{authorization}"}}}'
    sandbox.answer_next(
        status=429,
        body=echo,
        headers=[("request-id", "{authorization}"), ("Retry-After", "1e400")],
        endpoint="graph",
    )
    attempt(fics.list)
    fics.close()
    # the CLI's trust list, when Graph echoes the bearer
    token_file = tmp_path / "admin-token"
    token_file.write_text(sandbox.issue_assertion(subject="admin"))
    for name, value in {
        "AZURE_TENANT_ID": admin.tenant_id,
        "AZURE_CLIENT_ID": admin.client_id,
        "AZURE_AUTHORITY_HOST": sandbox.authority,
        "AZURE_FEDERATED_TOKEN_FILE": str(token_file),
    }.items():
        monkeypatch.setenv(name, value)
    sandbox.answer_next(status=403, body=echo, headers=[("request-id", "{authorization}")], endpoint="graph")
    args = ["trust", "list", "--app", target.client_id, "--graph-endpoint", sandbox.graph_endpoint]
    assert main([*args, "--ca-file", sandbox.ca_file]) != 0
    captured = capsys.readouterr()
    texts.extend([captured.out, captured.err])
    secrets.extend(r.headers.get("authorization", "") for r in sandbox.recorded("graph"))
    # App Service's endpoint echoing its identity header
    env = sandbox.managed_identity_env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    secrets.append(env["IDENTITY_HEADER"])
    sandbox.answer_next(3, status=500, body='{"message": "{identity_header}"}', endpoint="managed-identity")
    attempt(ManagedIdentityAssertion(retry_total=0))

    secrets.extend(source.issued)
    secrets = [s for s in secrets if s and s != "<redacted>"]
    corpus = "\n".join(texts + everything.lines)
    assert any("AADSTS90055" in text for text in texts) and any("Not tried again yet" in t for t in texts)
    assert "Microsoft Graph answered HTTP 403" in captured.err, "the CLI said what Graph said"
    leaked = [s[:12] + "..." for s in secrets if s in corpus]
    assert leaked == [], f"{len(leaked)} secrets leaked"
    assert JWT_SHAPE.findall(corpus) == [], "nothing JWT-shaped reached a message, log, repr or the CLI"
