"""assertion_from_environment: which source the environment provides, by documented precedence."""

from __future__ import annotations

import pytest

from azure_wif_credential.assertions import (
    DETECTION_ORDER,
    AzurePipelinesAssertion,
    FileAssertion,
    GitHubActionsAssertion,
    assertion_from_environment,
)

TOKEN_FILE = {"AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token"}
GITHUB = {
    "ACTIONS_ID_TOKEN_REQUEST_URL": "https://127.0.0.1:1/idtoken?api-version=2.0",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token",
}
PIPELINES = {
    "SYSTEM_OIDCREQUESTURI": "https://127.0.0.1:1/oidctoken",
    "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID": "service-connection",
    "SYSTEM_ACCESSTOKEN": "system-access-token",
}


def test_token_file_comes_first() -> None:
    found = assertion_from_environment({**PIPELINES, **GITHUB, **TOKEN_FILE})
    assert found is not None
    source, description = found
    assert isinstance(source, FileAssertion)
    assert source.path == TOKEN_FILE["AZURE_FEDERATED_TOKEN_FILE"]
    assert description == f"token file {TOKEN_FILE['AZURE_FEDERATED_TOKEN_FILE']}"


def test_github_actions_comes_before_azure_pipelines() -> None:
    found = assertion_from_environment({**PIPELINES, **GITHUB})
    assert found is not None
    assert isinstance(found[0], GitHubActionsAssertion)
    assert found[1] == "GitHub Actions"


def test_azure_pipelines_is_found_with_all_three_variables() -> None:
    found = assertion_from_environment(PIPELINES)
    assert found is not None
    assert isinstance(found[0], AzurePipelinesAssertion)
    assert found[1] == "Azure Pipelines"


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"ACTIONS_ID_TOKEN_REQUEST_URL": GITHUB["ACTIONS_ID_TOKEN_REQUEST_URL"], "GITHUB_ACTIONS": "true"},
        {k: v for k, v in PIPELINES.items() if k != "SYSTEM_ACCESSTOKEN"},
        {"AZURE_FEDERATED_TOKEN_FILE": ""},
    ],
    ids=["nothing", "github-without-id-token-permission", "pipelines-without-access-token", "empty-file"],
)
def test_nothing_is_found_when_no_platform_is_complete(environ: dict[str, str]) -> None:
    assert assertion_from_environment(environ) is None


def test_detection_order_names_every_variable_looked_for_and_the_github_permission() -> None:
    for name in [*TOKEN_FILE, *GITHUB, *PIPELINES]:
        assert name in DETECTION_ORDER
    assert "permissions: id-token: write" in DETECTION_ORDER
    assert DETECTION_ORDER.index("AZURE_FEDERATED_TOKEN_FILE") < DETECTION_ORDER.index("ACTIONS_ID_TOKEN")
    assert DETECTION_ORDER.index("ACTIONS_ID_TOKEN") < DETECTION_ORDER.index("SYSTEM_OIDCREQUESTURI")


@pytest.mark.parametrize(
    ("authority", "audience"),
    [
        (None, "api://AzureADTokenExchange"),
        ("login.microsoftonline.com", "api://AzureADTokenExchange"),
        ("https://login.microsoftonline.us/", "api://AzureADTokenExchangeUSGov"),
        ("login.chinacloudapi.cn", "api://AzureADTokenExchangeChina"),
        ("https://127.0.0.1:8443", "api://AzureADTokenExchange"),
    ],
)
def test_github_audience_follows_the_authoritys_cloud(authority: str | None, audience: str) -> None:
    found = assertion_from_environment(GITHUB, authority=authority)
    assert found is not None
    assert isinstance(found[0], GitHubActionsAssertion)
    assert found[0].audience == audience


def test_azure_authority_host_in_the_environment_chooses_the_cloud_when_no_authority_is_given() -> None:
    found = assertion_from_environment({**GITHUB, "AZURE_AUTHORITY_HOST": "https://login.microsoftonline.us"})
    assert found is not None
    assert isinstance(found[0], GitHubActionsAssertion)
    assert found[0].audience == "api://AzureADTokenExchangeUSGov"


def test_unknown_pipeline_options_are_refused() -> None:
    with pytest.raises(TypeError, match="connection_verfy"):
        assertion_from_environment(GITHUB, connection_verfy="/ca.pem")
