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
