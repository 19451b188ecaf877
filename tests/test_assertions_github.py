"""GitHubActionsAssertion: the job's OIDC token from the runner's token service."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError
from helpers import claims_of

from azure_wif_credential.assertions import GitHubActionsAssertion
from azure_wif_credential.sandbox import Sandbox

REQUEST_TOKEN = "ghs_request-token-that-must-never-show"


@pytest.mark.parametrize(
    "present",
    [{}, {"ACTIONS_ID_TOKEN_REQUEST_URL": "https://127.0.0.1:1/idtoken"}],
    ids=["none", "url-only"],
)
def test_missing_variables_are_unavailable_and_explain_the_workflow_permission(
    monkeypatch: pytest.MonkeyPatch, present: dict[str, str]
) -> None:
    monkeypatch.delenv("ACTIONS_ID_TOKEN_REQUEST_URL", raising=False)
    monkeypatch.delenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", raising=False)
    for name, value in present.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(CredentialUnavailableError) as caught:
        GitHubActionsAssertion()()
    assert "permissions: id-token: write" in caught.value.message
    assert "ACTIONS_ID_TOKEN_REQUEST_TOKEN" in caught.value.message


def test_plain_http_to_a_non_loopback_host_is_refused_before_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", "http://token.actions.example/idtoken?api-version=2.0")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN)
    with pytest.raises(ClientAuthenticationError, match="must be an https URL") as caught:
        GitHubActionsAssertion()()
    assert REQUEST_TOKEN not in caught.value.message


def test_explicit_audience_wins_over_the_cloud_default() -> None:
    source = GitHubActionsAssertion("api://custom", authority="login.microsoftonline.us")
    assert source.audience == "api://custom"


def test_repr_shows_the_audience_and_never_the_request_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN)
    monkeypatch.delenv("AZURE_AUTHORITY_HOST", raising=False)
    assert repr(GitHubActionsAssertion()) == "GitHubActionsAssertion(audience='api://AzureADTokenExchange')"


def test_misspelled_pipeline_option_is_an_error() -> None:
    with pytest.raises(TypeError, match="read_timout"):
        GitHubActionsAssertion(read_timout=3)


# --- against the sandbox's GitHub-Actions-like token service ------------------------------------


@pytest.fixture
def job(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = sandbox.github_actions_env(repository="contoso/web", ref="refs/heads/release")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_token_carries_the_jobs_claims_and_the_exchange_audience(
    sandbox: Sandbox, job: dict[str, str]
) -> None:
    claims = claims_of(GitHubActionsAssertion(connection_verify=sandbox.ca_file)())
    assert claims["iss"] == sandbox.github_issuer
    assert claims["sub"] == "repo:contoso/web:ref:refs/heads/release"
    assert claims["aud"] == "api://AzureADTokenExchange"
    assert claims["repository"] == "contoso/web"
    [request] = sandbox.recorded("github")
    assert request.method == "GET"
    assert request.query["audience"] == "api://AzureADTokenExchange"
    assert request.query["api-version"] == "2.0"  # the variable's own query is kept


@pytest.mark.parametrize(
    ("authority", "audience"),
    [
        ("https://login.microsoftonline.us", "api://AzureADTokenExchangeUSGov"),
        ("login.chinacloudapi.cn", "api://AzureADTokenExchangeChina"),
    ],
)
def test_sovereign_cloud_authority_requests_its_audience(
    sandbox: Sandbox, job: dict[str, str], authority: str, audience: str
) -> None:
    source = GitHubActionsAssertion(authority=authority, connection_verify=sandbox.ca_file)
    assert claims_of(source())["aud"] == audience


def test_explicit_audience_is_requested(sandbox: Sandbox, job: dict[str, str]) -> None:
    source = GitHubActionsAssertion("api://contoso-exchange", connection_verify=sandbox.ca_file)
    assert claims_of(source())["aud"] == "api://contoso-exchange"


def test_job_environment_reaches_the_subject(sandbox: Sandbox) -> None:
    env = sandbox.github_actions_env(repository="contoso/web", environment="production")
    source = GitHubActionsAssertion(environ=env, connection_verify=sandbox.ca_file)
    assert claims_of(source())["sub"] == "repo:contoso/web:environment:production"
