"""Microsoft Graph's answers and a FIC's name, treated as hostile.

A name is never a path: every verb validates it by Entra's rule before any request (``..`` would
address the application itself). A redirect is never success. Every answer is read bounded and
validated: arrays, ``null``, deep nesting and wrong types are a typed GraphError, never a crash or a
half object. Retry-After is said, not slept. An echoed bearer token never shows."""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest
from helpers import sandbox_credential

from azure_wif_credential._cli import main
from azure_wif_credential.sandbox import Sandbox
from azure_wif_credential.trust import FederatedIdentityCredential, FederatedIdentityCredentials
from azure_wif_credential.trust._client import GraphError

from .test_leaks import describe

ADMIN = "system:serviceaccount:platform:admin"

#: Names that are not a FIC's name, each refused before any request.
BAD_NAMES = [
    "..",
    ".",
    "...",
    "../..",
    "a/b",
    "ab/",
    "a\\b",
    "%2e%2e",
    "",
    "ab",
    "x" * 121,
    "with space",
    "new\nline",
    "nul\x00byte",
    "é-accent",
    ".hidden",
]


@pytest.fixture
def graph(sandbox: Sandbox) -> Iterator[Tuple[FederatedIdentityCredentials, Any, str]]:
    admin = sandbox.register_app(subject=ADMIN, graph_roles=["Application.ReadWrite.All"])
    target = sandbox.register_app(subject=None, tenant_id=admin.tenant_id)
    credential = sandbox_credential(sandbox, admin, ADMIN)
    fics = FederatedIdentityCredentials(
        credential,
        application=target.client_id,
        graph_endpoint=sandbox.graph_endpoint,
        connection_verify=sandbox.ca_file,
        retry_total=2,
    )
    fics.create(FederatedIdentityCredential(name="main", issuer=sandbox.issuer, subject="repo:x"))
    bearer = credential.get_token(f"{sandbox.graph_endpoint}/.default").token
    yield fics, target, bearer
    fics.close()
    credential.close()


@pytest.mark.parametrize("name", BAD_NAMES)
@pytest.mark.parametrize("verb", ["get", "update", "delete"])
def test_a_name_that_is_not_a_fic_name_is_refused_before_any_request(
    verb: str, name: str, sandbox: Sandbox, graph: Tuple[FederatedIdentityCredentials, Any, str]
) -> None:
    fics, _, _ = graph
    before = sandbox.request_count("graph")
    call: Dict[str, Callable[[], Any]] = {
        "get": lambda: fics.get(name),
        "update": lambda: fics.update(name, description="x"),
        "delete": lambda: fics.delete(name),
    }
    with pytest.raises(ValueError, match="is not a federated identity credential's name"):
        call[verb]()
    assert sandbox.request_count("graph") == before, "nothing was sent"
    assert [f.name for f in fics.list()] == ["main"], "the FIC (and the app) are still there"


def test_trust_delete_with_a_dot_dot_name_deletes_nothing(
    sandbox: Sandbox,
    graph: Tuple[FederatedIdentityCredentials, Any, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fics, target, bearer = graph
    monkeypatch.setenv("AZURE_WIF_GRAPH_TOKEN", bearer)  # unused by the CLI: it must fail earlier
    code = main(
        [
            "trust",
            "delete",
            "--app",
            target.client_id,
            "--name",
            "..",
            "--graph-endpoint",
            sandbox.graph_endpoint,
            "--ca-file",
            sandbox.ca_file,
        ]
    )
    captured = capsys.readouterr()
    assert code != 0 and "deleted" not in captured.out
    assert "is not a federated identity credential's name" in captured.err
    assert "Traceback" not in captured.err
    assert [f.name for f in fics.list()] == ["main"]


#: A hostile answer to a list, a get or a delete → the GraphError code it must give.
ANSWERS: Dict[str, Tuple[int, bytes, List[Tuple[str, str]], str]] = {
    "302 redirect, empty body": (
        302,
        b"",
        [("Location", "https://graph.evil.example/x")],
        "UnexpectedAnswer",
    ),
    "307 redirect": (307, b"{}", [("Location", "https://graph.evil.example/x")], "UnexpectedAnswer"),
    "a JSON array": (200, b"[]", [], "UnexpectedAnswer"),
    "null": (200, b"null", [], "UnexpectedAnswer"),
    "deeply nested": (200, b"[" * 200_000 + b"]" * 200_000, [], "UnexpectedAnswer"),
    "over the size limit": (200, b'{"value": "' + b"a" * (2 << 20) + b'"}', [], "AnswerTooLarge"),
    "nested, under the size limit": (
        200,
        b'{"value":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        [],
        "UnexpectedAnswer",
    ),
    "value null": (200, b'{"value": null}', [], "UnexpectedAnswer"),
    "value of nulls": (200, b'{"value": [null]}', [], "UnexpectedAnswer"),
    "a name that is a number": (
        200,
        b'{"value": [{"name": 5, "issuer": "x", "audiences": []}]}',
        [],
        "UnexpectedAnswer",
    ),
    "not JSON": (200, b"<html>hello</html>", [], "UnexpectedAnswer"),
    "an error whose code is an object": (
        400,
        b'{"error": {"code": {"deep": 1}, "message": ["x"]}}',
        [],
        "HTTP400",
    ),
}


@pytest.mark.parametrize(
    ("verb", "case"),
    [
        (verb, case)
        for case, answer in ANSWERS.items()
        for verb in ("list", "get", "delete")
        # a delete's 200 body is never read: only its status can be hostile
        if verb != "delete" or answer[0] != 200
    ],
)
def test_hostile_graph_answers_are_typed_errors(
    verb: str, case: str, sandbox: Sandbox, graph: Tuple[FederatedIdentityCredentials, Any, str]
) -> None:
    fics, _, _ = graph
    status, body, headers, code = ANSWERS[case]
    sandbox.answer_next(status=status, body=body, headers=headers, endpoint="graph")
    before = sandbox.request_count("graph")
    call: Dict[str, Callable[[], Any]] = {
        "list": fics.list,
        "get": lambda: fics.get("main"),
        "delete": lambda: fics.delete("main"),
    }
    with pytest.raises(GraphError) as caught:
        call[verb]()
    assert caught.value.code == code, str(caught.value)
    assert sandbox.request_count("graph") == before + 1
    assert [f.name for f in fics.list()] == ["main"], "a failed delete deleted nothing, and said so"


@pytest.mark.parametrize("header", ["3600", "86400", "1e400", "Wed, 01 Jan 2031 00:00:00 GMT"])
def test_graph_retry_after_is_said_not_slept(
    header: str, sandbox: Sandbox, graph: Tuple[FederatedIdentityCredentials, Any, str]
) -> None:
    fics, _, _ = graph
    body = json.dumps({"error": {"code": "TooManyRequests", "message": "Slow down"}}).encode()
    sandbox.answer_next(status=429, body=body, headers=[("Retry-After", header)], endpoint="graph")
    before = sandbox.request_count("graph")
    with pytest.raises(GraphError) as caught:
        fics.list()
    assert sandbox.request_count("graph") == before + 1, "no in-call retry for a long wait"
    assert caught.value.retry_after is not None and caught.value.retry_after > 3000
    assert "Graph asked to try again in" in str(caught.value)


@pytest.mark.parametrize(
    "where",
    ["request-id header", "client-request-id header", "innerError request-id", "message"],
)
def test_a_graph_error_echoing_the_bearer_token_anywhere_does_not_show_it(
    where: str, sandbox: Sandbox, graph: Tuple[FederatedIdentityCredentials, Any, str]
) -> None:
    fics, _, bearer = graph
    error: Dict[str, Any] = {"code": "Echo", "message": "denied"}
    headers: List[Tuple[str, str]] = []
    if where.endswith("header"):
        headers.append((where.split()[0], "{authorization}"))
    elif where == "innerError request-id":
        error["innerError"] = {"request-id": "{authorization}"}
    else:
        error["message"] = "you sent Bearer {authorization} (first 10: {authorization})"
    body = json.dumps({"error": error}).encode()
    sandbox.answer_next(status=403, body=body, headers=headers, endpoint="graph")
    with pytest.raises(GraphError) as caught:
        fics.list()
    text = describe(caught.value)
    for fragment in (bearer, bearer[:100], bearer[:40], bearer[-40:]):
        assert fragment not in text
    assert caught.value.request_id is None or len(caught.value.request_id) == 36
