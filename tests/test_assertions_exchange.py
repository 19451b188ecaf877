"""Each source end to end: its token, fetched over HTTPS, exchanged with real MSAL at the sandbox's STS.

Also the reason the CI sources exist: a job that outlives its GitHub token keeps exchanging, because
every exchange presents a token that is still valid, while a token fetched once (as azure/login does)
is rejected with AADSTS700024 once it expires.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Iterator
from typing import Any, Callable

import msal
import pytest
import requests
from azure.core.credentials import AccessToken
from azure.identity import ChainedTokenCredential

from azure_wif_credential import FederatedTokenCredential
from azure_wif_credential.assertions import (
    AzurePipelinesAssertion,
    CommandAssertion,
    EnvironmentAssertion,
    GitHubActionsAssertion,
    ReusedAssertion,
)
from azure_wif_credential.sandbox import App, Sandbox

GITHUB_SUBJECT = "repo:octo-org/octo-repo:ref:refs/heads/main"
STORAGE = "https://storage.azure.com/.default"


class CaPinnedHttpClient:
    """MSAL's http_client: trusts only the sandbox CA (per request, so REQUESTS_CA_BUNDLE can't
    override it), with a timeout on every call."""

    def __init__(self, ca_file: str) -> None:
        self._session = requests.Session()
        self._ca_file = ca_file

    def get(self, url: str, params: Any = None, headers: Any = None, **_: Any) -> requests.Response:
        return self._session.get(url, params=params, headers=headers, verify=self._ca_file, timeout=10)

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **_: Any
    ) -> requests.Response:
        return self._session.post(
            url, params=params, data=data, headers=headers, verify=self._ca_file, timeout=10
        )

    def close(self) -> None:
        self._session.close()


Exchange = Callable[[App, Callable[[], str]], Callable[[str], "dict[str, Any]"]]


@pytest.fixture
def exchanger(sandbox: Sandbox) -> Iterator[Exchange]:
    """``exchanger(app, source)`` → ``exchange(scope)``: MSAL's client credentials grant with the source
    as its client_assertion callable."""
    client = CaPinnedHttpClient(sandbox.ca_file)

    def make(app: App, source: Callable[[], str]) -> Callable[[str], dict[str, Any]]:
        msal_app = msal.ConfidentialClientApplication(
            app.client_id,
            client_credential={"client_assertion": source},
            authority=f"{sandbox.authority}/{app.tenant_id}",
            instance_discovery=False,
            http_client=client,
        )

        def exchange(scope: str) -> dict[str, Any]:
            result: dict[str, Any] = msal_app.acquire_token_for_client([scope])
            return result

        return exchange

    yield make
    client.close()


def assert_access_token(sandbox: Sandbox, result: dict[str, Any], app: App) -> None:
    assert "access_token" in result, result.get("error_description")
    assert sandbox.verify_access_token(result["access_token"])["appid"] == app.client_id


def job_environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_github_actions_token_is_exchanged(
    sandbox: Sandbox, exchanger: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_environment(monkeypatch, sandbox.github_actions_env())
    app = sandbox.register_app(subject=GITHUB_SUBJECT, issuer=sandbox.github_issuer)
    exchange = exchanger(app, GitHubActionsAssertion(connection_verify=sandbox.ca_file))
    assert_access_token(sandbox, exchange(STORAGE), app)
    assert sandbox.request_count("github") == 1


def test_us_government_audience_matches_a_federated_credential_for_that_cloud(
    sandbox: Sandbox, exchanger: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_environment(monkeypatch, sandbox.github_actions_env())
    app = sandbox.register_app(
        subject=GITHUB_SUBJECT, issuer=sandbox.github_issuer, audience="api://AzureADTokenExchangeUSGov"
    )
    source = GitHubActionsAssertion(authority="login.microsoftonline.us", connection_verify=sandbox.ca_file)
    assert_access_token(sandbox, exchanger(app, source)(STORAGE), app)


def test_azure_pipelines_token_is_exchanged(
    sandbox: Sandbox, exchanger: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_environment(monkeypatch, sandbox.azure_pipelines_env(organization="contoso", project="web"))
    app = sandbox.register_app(subject="sc://contoso/web/azure-prod", issuer=sandbox.pipelines_issuer)
    exchange = exchanger(app, AzurePipelinesAssertion(connection_verify=sandbox.ca_file))
    assert_access_token(sandbox, exchange(STORAGE), app)
    assert sandbox.request_count("pipelines") == 1


def test_environment_variable_token_is_exchanged(
    sandbox: Sandbox, exchanger: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = sandbox.register_app(subject="project_path:contoso/web:ref_type:branch:ref:main")
    monkeypatch.setenv(
        "GITLAB_OIDC_TOKEN",
        sandbox.issue_assertion(subject="project_path:contoso/web:ref_type:branch:ref:main"),
    )
    assert_access_token(sandbox, exchanger(app, EnvironmentAssertion("GITLAB_OIDC_TOKEN"))(STORAGE), app)


def test_command_token_is_exchanged(
    sandbox: Sandbox, exchanger: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    subject = "spiffe://example.org/ns/default/sa/web"
    app = sandbox.register_app(subject=subject)
    monkeypatch.setenv("WIF_TEST_SVID", sandbox.issue_assertion(subject=subject))
    agent = CommandAssertion(
        [
            sys.executable,
            "-c",
            "import json, os; print(json.dumps([{'svids': [{'svid': os.environ['WIF_TEST_SVID']}]}]))",
        ],
        json_field="0.svids.0.svid",
    )
    assert_access_token(sandbox, exchanger(app, agent)(STORAGE), app)


# --- a job longer than its GitHub token's lifetime ---------------------------------------------


def run_job(exchange: Callable[[str], dict[str, Any]], seconds: float) -> list[dict[str, Any]]:
    """Exchange every 0.25 s for ``seconds``, each time for a new resource (MSAL caches per scope)."""
    results = []
    deadline = time.monotonic() + seconds
    for step in itertools.count():
        results.append(exchange(f"api://job-step-{step}/.default"))
        if time.monotonic() > deadline:
            return results
        time.sleep(0.25)
    raise AssertionError("unreachable")


def test_a_job_outliving_its_github_tokens_keeps_exchanging(
    sandbox: Sandbox, exchanger: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_environment(monkeypatch, sandbox.github_actions_env(token_lifetime=2))
    app = sandbox.register_app(subject=GITHUB_SUBJECT, issuer=sandbox.github_issuer)
    results = run_job(exchanger(app, GitHubActionsAssertion(connection_verify=sandbox.ca_file)), seconds=5)
    assert [result.get("error") for result in results] == [None] * len(results)
    assert sandbox.request_count("github") == len(results)


def test_reused_github_tokens_are_replaced_before_they_expire(
    sandbox: Sandbox, exchanger: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_environment(monkeypatch, sandbox.github_actions_env(token_lifetime=2))
    app = sandbox.register_app(subject=GITHUB_SUBJECT, issuer=sandbox.github_issuer)
    source = ReusedAssertion(GitHubActionsAssertion(connection_verify=sandbox.ca_file), min_remaining=1)
    results = run_job(exchanger(app, source), seconds=5)
    assert [result.get("error") for result in results] == [None] * len(results)
    # Reused while more than 1 s was left, replaced after: fewer fetches than exchanges, more than one.
    assert 1 < sandbox.request_count("github") < len(results)


def test_a_github_token_fetched_once_is_rejected_after_it_expires(
    sandbox: Sandbox, exchanger: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What azure/login does, and why long jobs die with AADSTS700024."""
    job_environment(monkeypatch, sandbox.github_actions_env(token_lifetime=2))
    app = sandbox.register_app(subject=GITHUB_SUBJECT, issuer=sandbox.github_issuer)
    fetched_once = GitHubActionsAssertion(connection_verify=sandbox.ca_file)()
    exchange = exchanger(app, lambda: fetched_once)
    assert_access_token(sandbox, exchange("api://first-step/.default"), app)
    time.sleep(3)
    result = exchange("api://later-step/.default")
    assert result.get("error") == "invalid_client"
    assert 700024 in result.get("error_codes", [])


# --- with FederatedTokenCredential ---------------------------------------------------------------


def test_credential_with_github_source_gets_tokens_for_a_long_job(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_environment(monkeypatch, sandbox.github_actions_env(token_lifetime=2))
    app = sandbox.register_app(subject=GITHUB_SUBJECT, issuer=sandbox.github_issuer)
    source = GitHubActionsAssertion(connection_verify=sandbox.ca_file)
    with FederatedTokenCredential(
        app.tenant_id,
        app.client_id,
        assertion=source,
        authority=sandbox.authority,
        connection_verify=sandbox.ca_file,
    ) as credential:
        first = credential.get_token(STORAGE)
        time.sleep(3)  # the first GitHub token has expired
        second = credential.get_token("https://vault.azure.net/.default")
    assert sandbox.verify_access_token(first.token)["appid"] == app.client_id
    assert sandbox.verify_access_token(second.token)["appid"] == app.client_id
    assert sandbox.request_count("github") == 2


def test_credential_chain_moves_on_when_the_job_has_no_id_token_permission(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACTIONS_ID_TOKEN_REQUEST_URL", raising=False)
    monkeypatch.delenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", raising=False)
    app = sandbox.register_app(subject=GITHUB_SUBJECT, issuer=sandbox.github_issuer)
    ours = FederatedTokenCredential(
        app.tenant_id,
        app.client_id,
        assertion=GitHubActionsAssertion(),
        authority=sandbox.authority,
        connection_verify=sandbox.ca_file,
    )

    class Fallback:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return AccessToken("fallback-token", int(time.time()) + 3600)

    with ours:
        token = ChainedTokenCredential(ours, Fallback()).get_token(STORAGE)
    assert token.token == "fallback-token"
    assert sandbox.request_count("token") == 0


@pytest.mark.parametrize("platform", ["github", "pipelines"])
def test_from_environment_detects_the_ci_platform_and_exchanges_its_token(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, platform: str
) -> None:
    monkeypatch.delenv("AZURE_FEDERATED_TOKEN_FILE", raising=False)
    if platform == "github":
        job_environment(monkeypatch, sandbox.github_actions_env())
        app = sandbox.register_app(subject=GITHUB_SUBJECT, issuer=sandbox.github_issuer)
    else:
        for name in ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        job_environment(monkeypatch, sandbox.azure_pipelines_env(organization="contoso", project="web"))
        app = sandbox.register_app(subject="sc://contoso/web/azure-prod", issuer=sandbox.pipelines_issuer)
    job_environment(
        monkeypatch,
        {
            "AZURE_CLIENT_ID": app.client_id,
            "AZURE_TENANT_ID": app.tenant_id,
            "AZURE_AUTHORITY_HOST": sandbox.authority,
        },
    )
    with FederatedTokenCredential.from_environment(connection_verify=sandbox.ca_file) as credential:
        token = credential.get_token(STORAGE)
    assert sandbox.verify_access_token(token.token)["appid"] == app.client_id
    assert sandbox.request_count(platform) == 1
