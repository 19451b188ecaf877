"""AzurePipelinesAssertion: a service connection's OIDC token from the job's OIDC endpoint."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError
from helpers import claims_of

from azure_wif_credential.assertions import AzurePipelinesAssertion
from azure_wif_credential.sandbox import Sandbox

SYSTEM_ACCESS_TOKEN = "system-access-token-that-must-never-show"
VARIABLES = ("SYSTEM_OIDCREQUESTURI", "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", "SYSTEM_ACCESSTOKEN")


@pytest.mark.parametrize("missing", VARIABLES)
def test_each_missing_variable_is_named(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    environ = {
        "SYSTEM_OIDCREQUESTURI": "https://127.0.0.1:1/oidctoken",
        "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID": "connection-id",
        "SYSTEM_ACCESSTOKEN": SYSTEM_ACCESS_TOKEN,
    }
    for name, value in environ.items():
        if name == missing:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    with pytest.raises(CredentialUnavailableError) as caught:
        AzurePipelinesAssertion()()
    message = caught.value.message
    assert f"{missing} is not set" in message
    assert [name for name in VARIABLES if f"{name} is not set" in message] == [missing]
    assert SYSTEM_ACCESS_TOKEN not in message


def test_missing_access_token_explains_how_to_map_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(CredentialUnavailableError, match=r"SYSTEM_ACCESSTOKEN: \$\(System.AccessToken\)"):
        AzurePipelinesAssertion()()


def test_explicit_values_stand_in_for_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", raising=False)
    monkeypatch.delenv("SYSTEM_ACCESSTOKEN", raising=False)
    monkeypatch.delenv("SYSTEM_OIDCREQUESTURI", raising=False)
    with pytest.raises(CredentialUnavailableError) as caught:
        AzurePipelinesAssertion("connection-id", SYSTEM_ACCESS_TOKEN)()
    assert "SYSTEM_OIDCREQUESTURI is not set" in caught.value.message
    assert "SYSTEM_ACCESSTOKEN is not set" not in caught.value.message


def test_repr_shows_the_connection_and_never_the_access_token() -> None:
    given = AzurePipelinesAssertion("connection-id", SYSTEM_ACCESS_TOKEN)
    assert (
        repr(given)
        == "AzurePipelinesAssertion(service_connection_id='connection-id', system_access_token=<given>)"
    )
    assert repr(AzurePipelinesAssertion()) == (
        "AzurePipelinesAssertion(service_connection_id='$AZURESUBSCRIPTION_SERVICE_CONNECTION_ID', "
        "system_access_token=$SYSTEM_ACCESSTOKEN)"
    )


# --- against the sandbox's Azure-Pipelines-like OIDC endpoint -----------------------------------


@pytest.fixture
def job(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = sandbox.azure_pipelines_env(organization="contoso", project="web", connection_name="azure-prod")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_token_is_for_the_service_connection(sandbox: Sandbox, job: dict[str, str]) -> None:
    claims = claims_of(AzurePipelinesAssertion(connection_verify=sandbox.ca_file)())
    assert claims["iss"] == sandbox.pipelines_issuer
    assert claims["sub"] == "sc://contoso/web/azure-prod"
    assert claims["aud"] == "api://AzureADTokenExchange"
    [request] = sandbox.recorded("pipelines")
    assert request.method == "POST"
    assert request.query == {
        "api-version": "7.1",
        "serviceConnectionId": job["AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"],
    }
    assert request.headers["x-tfs-fedauthredirect"] == "Suppress"


def test_explicit_arguments_are_used_instead_of_the_variables(
    sandbox: Sandbox, job: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", "another-connection")
    monkeypatch.delenv("SYSTEM_ACCESSTOKEN")
    source = AzurePipelinesAssertion(
        job["AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"],
        job["SYSTEM_ACCESSTOKEN"],
        connection_verify=sandbox.ca_file,
    )
    assert claims_of(source())["sub"] == "sc://contoso/web/azure-prod"


def test_unknown_service_connection_reports_azure_devops_message(
    sandbox: Sandbox, job: dict[str, str]
) -> None:
    source = AzurePipelinesAssertion("no-such-connection", connection_verify=sandbox.ca_file)
    with pytest.raises(
        ClientAuthenticationError, match="HTTP 404 Not Found: Service connection no-such-connection"
    ):
        source()
