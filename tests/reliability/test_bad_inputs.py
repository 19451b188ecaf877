"""Bad inputs, as a table: each row is what a user, an environment or a far side hands us, the error
type it must become, and a fragment of the message that names the problem."""

from __future__ import annotations

import json
import math
import os
import socket
from pathlib import Path
from typing import Any, Callable, Dict, Tuple

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError
from helpers import VirtualClock

from azure_wif_credential import FederatedTokenCredential, TokenExchangeError
from azure_wif_credential._policy import RefreshPolicy
from azure_wif_credential.assertions import GitHubActionsAssertion
from azure_wif_credential.sandbox import Sandbox

from .conftest import STORAGE, Driver

GUID = "00000000-0000-0000-0000-000000000001"

# --- constructor arguments: (keyword arguments, error type, message fragment) -------------------------
CONSTRUCTOR: Dict[str, Tuple[Dict[str, Any], type, str]] = {
    "tenant empty": ({"tenant_id": ""}, ValueError, "tenant_id"),
    "tenant dot": ({"tenant_id": "."}, ValueError, "tenant_id"),
    "tenant dot-dot": ({"tenant_id": ".."}, ValueError, "tenant_id"),
    "tenant leading dot": ({"tenant_id": ".contoso.com"}, ValueError, "tenant_id"),
    "tenant trailing dot": ({"tenant_id": "contoso.com."}, ValueError, "tenant_id"),
    "tenant double dot": ({"tenant_id": "contoso..com"}, ValueError, "tenant_id"),
    "tenant path": ({"tenant_id": "a/../b"}, ValueError, "tenant_id"),
    "tenant newline": ({"tenant_id": GUID + "\n"}, ValueError, "tenant_id"),
    "tenant space": ({"tenant_id": "con toso"}, ValueError, "tenant_id"),
    "tenant query": ({"tenant_id": "x?y=1"}, ValueError, "tenant_id"),
    "tenant not a string": ({"tenant_id": 42}, TypeError, "tenant_id"),
    "client empty": ({"client_id": ""}, ValueError, "client_id"),
    "client space": ({"client_id": "a b"}, ValueError, "client_id"),
    "client not a string": ({"client_id": None}, TypeError, "client_id"),
    "authority http": ({"authority": "http://login.example"}, ValueError, "https"),
    "authority no host": ({"authority": "https://"}, ValueError, "authority"),
    "authority userinfo": ({"authority": "https://user:pw@login.example"}, ValueError, "user name"),
    "authority path": ({"authority": "https://login.example/tenant"}, ValueError, "path"),
    "authority query": ({"authority": "https://login.example?x=1"}, ValueError, "query"),
    "authority fragment": ({"authority": "https://login.example#f"}, ValueError, "fragment"),
    "authority whitespace": ({"authority": "login. example"}, ValueError, "authority"),
    "authority control": ({"authority": "login.example\x00"}, ValueError, "authority"),
    "authority bad port": ({"authority": "https://login.example:99999"}, ValueError, "port"),
    "authority backslashes": ({"authority": "https://ab\\ab\\"}, ValueError, "authority"),
    "authority backslash host": (
        {"authority": "https://login.example\\@evil.example"},
        ValueError,
        "authority",
    ),
    "authority not a string": ({"authority": 443}, TypeError, "authority"),
    "allowed tenants a string": ({"additionally_allowed_tenants": "contoso"}, TypeError, "single string"),
    "allowed tenants bad entry": (
        {"additionally_allowed_tenants": [".."]},
        ValueError,
        "additionally_allowed",
    ),
    "allowed tenants not iterable": ({"additionally_allowed_tenants": 5}, TypeError, "additionally_allowed"),
    "read_timeout text": ({"read_timeout": "soon"}, TypeError, "read_timeout"),
    "read_timeout negative": ({"read_timeout": -1}, ValueError, "read_timeout"),
    "read_timeout nan": ({"read_timeout": math.nan}, ValueError, "read_timeout"),
    "read_timeout bool": ({"read_timeout": True}, TypeError, "read_timeout"),
    "connection_timeout zero": ({"connection_timeout": 0}, ValueError, "connection_timeout"),
    "retry_total fraction": ({"retry_total": 1.5}, TypeError, "retry_total"),
    "retry_total negative": ({"retry_total": -1}, ValueError, "retry_total"),
    "logging_enable text": ({"logging_enable": "yes"}, TypeError, "logging_enable"),
    "connection_verify number": ({"connection_verify": 5}, TypeError, "connection_verify"),
    "proxies text": ({"proxies": "http://proxy"}, TypeError, "proxies"),
    "transport not a transport": ({"transport": object()}, TypeError, "transport"),
    "unknown keyword": ({"tokenfile": "/x"}, TypeError, "tokenfile"),
    "assertion not callable": ({"assertion": "eyJhbGciOi.x.y"}, TypeError, "assertion"),
    "assertion and token_file": ({"token_file": "/x"}, ValueError, "exactly one"),
    "token_file NUL": ({"assertion": None, "token_file": "/tmp/a\x00b"}, ValueError, "token_file"),
    "token_file not a path": ({"assertion": None, "token_file": 5}, TypeError, "token_file"),
}


@pytest.mark.parametrize("case", list(CONSTRUCTOR))
def test_constructor_refuses(case: str) -> None:
    kwargs, error, fragment = CONSTRUCTOR[case]
    arguments: Dict[str, Any] = {"tenant_id": GUID, "client_id": GUID, "assertion": lambda: "x.y.z"}
    arguments.update(kwargs)
    if arguments.get("assertion") is None:
        arguments.pop("assertion")
    with pytest.raises(error) as caught:
        FederatedTokenCredential(arguments.pop("tenant_id"), arguments.pop("client_id"), **arguments)
    assert fragment in str(caught.value)


# --- get_token arguments ------------------------------------------------------------------------------
CALLS: Dict[str, Tuple[Tuple[Any, ...], Dict[str, Any], type, str]] = {
    "no scope": ((), {}, ValueError, "at least one scope"),
    "empty scope": (("",), {}, ValueError, "scope"),
    "scope with a space": (("https://a/.default https://b/.default",), {}, ValueError, "separate"),
    "scope with a newline": (("https://a/.default\n",), {}, ValueError, "scope"),
    "scope not a string": ((5,), {}, TypeError, "scopes must be strings"),
    "tenant dot-dot": ((STORAGE,), {"tenant_id": ".."}, ValueError, "tenant_id"),
    "tenant path": ((STORAGE,), {"tenant_id": "a/b"}, ValueError, "tenant_id"),
    "tenant not a string": ((STORAGE,), {"tenant_id": 7}, TypeError, "tenant_id"),
    "tenant a list": ((STORAGE,), {"tenant_id": ["a"]}, TypeError, "tenant_id"),
    "claims not JSON": ((STORAGE,), {"claims": "not json"}, ValueError, "claims is not JSON"),
    "claims a JSON array": ((STORAGE,), {"claims": "[1, 2]"}, ValueError, "JSON object"),
    "claims null": ((STORAGE,), {"claims": "null"}, ValueError, "JSON object"),
    "claims not a string": ((STORAGE,), {"claims": {"a": 1}}, TypeError, "claims"),
    "claims huge": ((STORAGE,), {"claims": json.dumps({"x": "a" * 20000})}, ValueError, "claims"),
}


@pytest.mark.parametrize("case", list(CALLS))
def test_get_token_refuses(case: str, flavour: str, make_driver: Callable[..., Driver]) -> None:
    scopes, kwargs, error, fragment = CALLS[case]
    driver = make_driver(flavour, additionally_allowed_tenants=["*"])
    with pytest.raises(error) as caught:
        driver.get_token(*scopes, **kwargs)
    assert fragment in str(caught.value)


# --- what an assertion source returns or raises ----------------------------------------------------------
class BrokenStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


def _raise(error: BaseException) -> Callable[[], str]:
    def source() -> str:
        raise error

    return source


SOURCES: Dict[str, Tuple[Callable[[], Any], type, str]] = {
    "None": (lambda: None, ClientAuthenticationError, "returned NoneType"),
    "an int": (lambda: 42, ClientAuthenticationError, "returned int"),
    "bytes": (lambda: b"eyJ.a.b", ClientAuthenticationError, "returned bytes"),
    "empty": (lambda: "", ClientAuthenticationError, "(empty)"),
    "whitespace": (lambda: " \n\t", ClientAuthenticationError, "(empty)"),
    "a dict": (lambda: {"value": "x"}, ClientAuthenticationError, "returned dict"),
    "JSON around the JWT": (lambda: '{"value": "a.b.c"}', ClientAuthenticationError, "not a JWT"),
    "Bearer prefix": (lambda: "Bearer a.b.c", ClientAuthenticationError, "not a JWT"),
    "quoted": (lambda: '"a.b.c"', ClientAuthenticationError, "not a JWT"),
    "one segment": (lambda: "abcdef", ClientAuthenticationError, "too few"),
    "newline inside": (lambda: "a.b\n.c", ClientAuthenticationError, "not a JWT"),
    "huge": (lambda: "a." * 100_000 + "b", ClientAuthenticationError, "at most"),
    "a coroutine": (lambda: _coroutine(), ClientAuthenticationError, "coroutine"),
    "raises ValueError": (
        _raise(ValueError("bad config")),
        ClientAuthenticationError,
        "ValueError: bad config",
    ),
    "raises KeyError": (_raise(KeyError("HOME")), ClientAuthenticationError, "KeyError"),
    "raises with a broken __str__": (_raise(BrokenStr()), ClientAuthenticationError, "BrokenStr"),
    "raises CredentialUnavailableError": (
        _raise(CredentialUnavailableError("not here")),
        CredentialUnavailableError,
        "not here",
    ),
}


async def _coroutine_body() -> str:
    return "a.b.c"


def _coroutine() -> Any:
    return _coroutine_body()


@pytest.mark.parametrize("case", list(SOURCES))
def test_assertion_source_answers_become_typed_errors(case: str, make_driver: Callable[..., Driver]) -> None:
    source, error, fragment = SOURCES[case]
    driver = make_driver("sync", assertion=source)
    with pytest.raises(error) as caught:
        driver.get_token(STORAGE)
    assert fragment in str(caught.value)


# --- token files ------------------------------------------------------------------------------------------
def _file(tmp_path: Path, case: str) -> str:
    path = tmp_path / "token"
    if case == "missing":
        pass
    elif case == "empty":
        path.write_text("")
    elif case == "directory":
        path.mkdir()
    elif case == "FIFO":
        os.mkfifo(path)  # opening it for reading would block until a writer comes
    elif case == "socket":
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(path))
        listener.close()
    elif case == "huge":
        path.write_bytes(b"a" * (65 * 1024))
    elif case == "not UTF-8":
        path.write_bytes(b"\xff\xfe\x00garbage")
    elif case == "not a JWT":
        path.write_text("hello world\n")
    elif case == "device":
        return "/dev/zero"  # endless: must never be read
    return str(path)


FILES = {
    "missing": (CredentialUnavailableError, "does not exist"),
    "empty": (CredentialUnavailableError, "is empty"),
    "directory": (CredentialUnavailableError, "is a directory"),
    "FIFO": (CredentialUnavailableError, "is a FIFO"),
    "socket": (CredentialUnavailableError, "is a socket"),
    "device": (CredentialUnavailableError, "is a device"),
    "huge": (CredentialUnavailableError, "larger than"),
    "not UTF-8": (CredentialUnavailableError, "not UTF-8"),
    "not a JWT": (ClientAuthenticationError, "not a JWT"),
}


@pytest.mark.parametrize("case", list(FILES))
def test_token_files_that_are_not_token_files(
    case: str, flavour: str, make_driver: Callable[..., Driver], tmp_path: Path
) -> None:
    error, fragment = FILES[case]
    driver = make_driver(flavour, token_file=_file(tmp_path, case))
    with pytest.raises(error) as caught:
        driver.get_token(STORAGE)
    assert fragment in str(caught.value)


# --- Entra's token answers -----------------------------------------------------------------------------------
def _ok(**fields: Any) -> bytes:
    document = {"token_type": "Bearer", "expires_in": 3599, "access_token": "eyJ0eXAi.eyJhdWQi.c2ln"}
    document.update(fields)
    return json.dumps({k: v for k, v in document.items() if v is not ...}).encode()


STS: Dict[str, Tuple[int, bytes, str, bool]] = {
    "not JSON": (200, b"<html>hello</html>", "not JSON", True),
    "not UTF-8": (200, b"\xff\xfe{}", "not UTF-8", True),
    "truncated JSON": (200, _ok()[:25], "not JSON", True),
    "empty body": (200, b"", "empty body", True),
    "a JSON array": (200, b"[1, 2]", "not an object", True),
    "JSON null": (200, b"null", "not an object", True),
    "no access_token": (200, _ok(access_token=...), "without an access_token", True),
    "access_token null": (200, _ok(access_token=None), "without an access_token", True),
    "access_token empty": (200, _ok(access_token=""), "without an access_token", True),
    "access_token a number": (200, _ok(access_token=12345), "without an access_token", True),
    "access_token with a newline": (200, _ok(access_token="abc\r\nX-Evil: 1"), "not a bearer token", True),
    "expires_in missing": (200, _ok(expires_in=...), "expires_in missing", True),
    "expires_in negative": (200, _ok(expires_in=-5), "expires_in -5", True),
    "expires_in zero": (200, _ok(expires_in=0), "expires_in 0", True),
    "expires_in huge": (200, _ok(expires_in=10**20), "expires_in", True),
    "expires_in not a number": (200, _ok(expires_in="soon"), "expires_in 'soon'", True),
    "expires_in NaN": (200, b'{"access_token": "a.b.c", "expires_in": NaN}', "expires_in", True),
    "expires_in Infinity": (200, b'{"access_token": "a.b.c", "expires_in": 1e999}', "expires_in", True),
    "expires_in a bool": (200, _ok(expires_in=True), "expires_in of type bool", True),
    "expires_in a list": (200, _ok(expires_in=[1]), "expires_in of type list", True),
    "token_type pop": (200, _ok(token_type="pop"), "not Bearer", True),
    "refresh_in negative": (200, _ok(refresh_in=-1), "refresh_in", True),
    "refresh_in beyond expiry": (200, _ok(refresh_in=7200), "below expires_in", True),
    "already expired": (200, _ok(expires_on=1000), "already expired", True),
    "deep nesting": (200, b"[" * 100_000 + b"]" * 100_000, "not JSON", True),
    "error_codes not a list": (
        400,
        b'{"error": "invalid_client", "error_description": "AADSTS70021: no match", "error_codes": "70021"}',
        "AADSTS70021",
        False,
    ),
    "HTML 502 page": (502, b"<html><title>Bad gateway</title></html>", "HTTP 502", True),
    "HTML 404 page": (404, b"<html>Not found</html>", "HTTP 404", False),
    "JSON 500 without an OAuth error": (500, b'{"status": "down"}', "without an OAuth error", True),
    "redirect": (302, b"", "redirect", False),
}


@pytest.mark.parametrize("case", list(STS))
def test_token_answers_that_are_not_tokens(
    case: str, sandbox: Sandbox, make_driver: Callable[..., Driver], clock: VirtualClock
) -> None:
    status, body, fragment, retryable = STS[case]
    driver = make_driver("sync")
    sandbox.answer_next(status=status, body=body, headers=[("Location", "https://elsewhere.invalid/")])
    with pytest.raises(TokenExchangeError) as caught:
        driver.get_token(STORAGE)
    assert fragment in str(caught.value)
    assert caught.value.retryable is retryable
    clock.advance(RefreshPolicy().hold_max)  # past the key's hold after a failure
    assert sandbox.verify_access_token(driver.get_token(STORAGE).token), "the next answer is trusted again"


# --- CI endpoints' answers (GitHub Actions) --------------------------------------------------------------------
GITHUB: Dict[str, Tuple[int, bytes, str]] = {
    "not JSON": (200, b"<html>", "not JSON"),
    "not UTF-8": (200, b"\xff\xfe", "not UTF-8"),
    "no value": (200, b'{"count": 1}', "without a token in the JSON field 'value'"),
    "value a number": (200, b'{"value": 5}', "without a token"),
    "value empty": (200, b'{"value": ""}', "without a token"),
    "a JSON array": (200, b"[]", "the response has: list"),
    "401": (401, b'{"message": "Bad credentials"}', "HTTP 401"),
    "huge": (200, b'{"value": "' + b"a" * (2 << 20) + b'"}', "too large"),
}


@pytest.mark.parametrize("case", list(GITHUB))
def test_github_answers_that_are_not_tokens(case: str, sandbox: Sandbox) -> None:
    status, body, fragment = GITHUB[case]
    source = GitHubActionsAssertion(
        environ=sandbox.github_actions_env(), connection_verify=sandbox.ca_file, retry_total=0
    )
    sandbox.answer_next(status=status, body=body, endpoint="github")
    with pytest.raises(ClientAuthenticationError) as caught:
        source()
    assert fragment in str(caught.value)
