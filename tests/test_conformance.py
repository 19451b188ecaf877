"""The sandbox against docs/conformance.json, the table of what the real services send (written from
Microsoft's and GitHub's documentation and public recordings, not from the sandbox's code). Each row's
answer is made to happen with plain HTTP requests, and its status, fields, types, values, headers and
message format are checked against the row."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Tuple

import jwt
import pytest
import requests

from azure_wif_credential.sandbox import CLIENT_ASSERTION_TYPE, Sandbox

TABLE = json.loads((Path(__file__).resolve().parent.parent / "docs" / "conformance.json").read_text())
ROWS = {row["answer"]: row for row in TABLE["answers"]}
STORAGE = "https://storage.azure.com/.default"
SUBJECT = "system:serviceaccount:conformance:web"
TYPES: Dict[str, Tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "list": (list,),
    "object": (dict,),
    "bool": (bool,),
    "str|null": (str, type(None)),
}


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify=
        yield session


Answer = Tuple[requests.Response, str]  # the response, and the client-request-id sent


def token_request(http: requests.Session, sandbox: Sandbox, app: Any, assertion: str) -> Answer:
    request_id = str(uuid.uuid4())
    response = http.post(
        f"{sandbox.authority}/{app.tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app.client_id,
            "scope": STORAGE,
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
        },
        headers={"client-request-id": request_id},
        verify=sandbox.ca_file,
        timeout=10,
    )
    return response, request_id


def graph_request(http: requests.Session, sandbox: Sandbox, suffix: str) -> Answer:
    admin = sandbox.register_app(subject="admin", graph_roles=["Application.ReadWrite.All"])
    target = sandbox.register_app(subject=SUBJECT, tenant_id=admin.tenant_id)
    bearer = token_for_graph(http, sandbox, admin)
    url = (
        f"{sandbox.graph_endpoint}/v1.0/applications(appId='{target.client_id}')/federatedIdentityCredentials"
    )
    response = http.get(
        url + suffix, headers={"Authorization": f"Bearer {bearer}"}, verify=sandbox.ca_file, timeout=10
    )
    return response, ""


def token_for_graph(http: requests.Session, sandbox: Sandbox, app: Any) -> str:
    response = http.post(
        f"{sandbox.authority}/{app.tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app.client_id,
            "scope": f"{sandbox.graph_endpoint}/.default",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": sandbox.issue_assertion(subject="admin"),
        },
        verify=sandbox.ca_file,
        timeout=10,
    )
    token: str = response.json()["access_token"]
    return token


def github_token(http: requests.Session, sandbox: Sandbox, **job: Any) -> Answer:
    env = sandbox.github_actions_env(**job)
    response = http.get(
        env["ACTIONS_ID_TOKEN_REQUEST_URL"] + "&audience=api://AzureADTokenExchange",
        headers={"Authorization": f"Bearer {env['ACTIONS_ID_TOKEN_REQUEST_TOKEN']}"},
        verify=sandbox.ca_file,
        timeout=10,
    )
    return response, ""


def _legacy(http: requests.Session, sandbox: Sandbox) -> Answer:
    with Sandbox(legacy_fic_errors=True) as legacy:
        app = legacy.register_app(subject=SUBJECT)
        return token_request(http, legacy, app, legacy.issue_assertion(subject="someone-else"))


def _throttled(status: int) -> Callable[[requests.Session, Sandbox], Answer]:
    def make(http: requests.Session, sandbox: Sandbox) -> Answer:
        app = sandbox.register_app(subject=SUBJECT)
        sandbox.throttle(status=status, retry_after=60)
        return token_request(http, sandbox, app, sandbox.issue_assertion(subject=SUBJECT))

    return make


def _token(register: Dict[str, Any], claims: Dict[str, Any]) -> Callable[[requests.Session, Sandbox], Answer]:
    def make(http: requests.Session, sandbox: Sandbox) -> Answer:
        app = sandbox.register_app(subject=SUBJECT, **register)
        return token_request(http, sandbox, app, sandbox.issue_assertion(**{"subject": SUBJECT, **claims}))

    return make


def _discovery(http: requests.Session, sandbox: Sandbox) -> Answer:
    app = sandbox.register_app(subject=SUBJECT)
    url = f"{sandbox.authority}/{app.tenant_id}/v2.0/.well-known/openid-configuration"
    return http.get(url, verify=sandbox.ca_file, timeout=10), ""


def _instance_discovery(http: requests.Session, sandbox: Sandbox) -> Answer:
    url = f"{sandbox.authority}/common/discovery/instance"
    params = {"api-version": "1.1", "authorization_endpoint": f"{sandbox.authority}/common/oauth2/authorize"}
    return http.get(url, params=params, verify=sandbox.ca_file, timeout=10), ""


PRODUCERS: Dict[str, Callable[[requests.Session, Sandbox], Answer]] = {
    "token: success (client credentials with a client assertion)": _token({}, {}),
    "token: FIC mismatch on the issuer (AADSTS700211)": _token({"issuer": "https://other.example"}, {}),
    "token: FIC mismatch on the subject (AADSTS700213)": _token({}, {"subject": "someone-else"}),
    "token: FIC mismatch on the audience (AADSTS700212)": _token({"audience": "api://custom"}, {}),
    "token: FIC mismatch, legacy (AADSTS70021)": _legacy,
    "token: assertion outside its time range (AADSTS700024)": _token({}, {"exp": int(time.time()) - 60}),
    "token: throttled (429, AADSTS90055 TenantThrottlingError)": _throttled(429),
    "token: too busy (503, AADSTS90024 RequestBudgetExceededError)": _throttled(503),
    "discovery: a tenant's openid-configuration": _discovery,
    "instance discovery": _instance_discovery,
    "Graph: list an application's federated identity credentials": lambda h, s: graph_request(h, s, ""),
    "Graph: an error (a FIC that does not exist)": lambda h, s: graph_request(h, s, "(name='missing')"),
    "GitHub Actions: an ID token": lambda h, s: github_token(h, s),
}


def test_every_row_of_the_table_is_checked() -> None:
    assert set(PRODUCERS) == set(ROWS)


def check_fields(document: Dict[str, Any], fields: Dict[str, str], where: str) -> None:
    for name, kind in fields.items():
        assert name in document, f"{where}: no field {name!r}"
        value = document[name]
        if kind == "int":
            assert isinstance(value, int) and not isinstance(value, bool), f"{where}: {name} is not an int"
        else:
            assert isinstance(value, TYPES[kind]), f"{where}: {name} is a {type(value).__name__}, not {kind}"


@pytest.mark.parametrize("answer", list(ROWS))
def test_the_sandbox_answers_as_the_real_service_does(
    answer: str, http: requests.Session, sandbox: Sandbox
) -> None:
    row = ROWS[answer]
    response, request_id = PRODUCERS[answer](http, sandbox)
    assert response.status_code == row["status"], response.text[:300]
    document = response.json()
    check_fields(document, row.get("fields", {}), answer)
    for name, expected in row.get("values", {}).items():
        actual = document.get(
            name, document.get("error", {}).get(name) if isinstance(document.get("error"), dict) else None
        )
        assert actual == expected, f"{answer}: {name} is {actual!r}, not {expected!r}"
    if "description" in row:
        assert re.fullmatch(row["description"], document["error_description"]), document["error_description"]
    for name, pattern in row.get("headers", {}).items():
        value = response.headers.get(name)
        assert value is not None, f"{answer}: no {name} header"
        if pattern == "<echoed>":
            assert value == request_id
        else:
            assert re.fullmatch(pattern, value), f"{answer}: {name}: {value!r}"
    for item in document.get("metadata", []) if "metadata_fields" in row else []:
        check_fields(item, row["metadata_fields"], answer + " metadata")
    for item in document.get("value", []) if "value_fields" in row else []:
        check_fields(item, row["value_fields"], answer + " value")
    if "error_fields" in row:
        check_fields(document["error"], row["error_fields"], answer + " error")
    if "claims" in row:
        claims = jwt.decode(document["value"], options={"verify_signature": False})
        check_fields(claims, row["claims"], answer + " claims")
        assert re.fullmatch(row["subject"], claims["sub"])


def test_githubs_immutable_subject_matches_the_table(http: requests.Session, sandbox: Sandbox) -> None:
    row = ROWS["GitHub Actions: an ID token"]
    response, _ = github_token(http, sandbox, owner_id=7, repository_id=9, immutable_subject=True)
    claims = jwt.decode(response.json()["value"], options={"verify_signature": False})
    assert re.fullmatch(row["immutable_subject"], claims["sub"])
    assert claims["sub"] == "repo:octo-org-7/octo-repo-9:ref:refs/heads/main"
