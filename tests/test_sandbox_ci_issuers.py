"""The sandbox's GitHub-Actions-like and Azure-Pipelines-like OIDC token services, and Entra trusting them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientAssertionCredential

from azure_wif_credential.sandbox import App, Sandbox

EXCHANGE = "api://AzureADTokenExchange"
STORAGE = "https://storage.azure.com/.default"


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def verify_with_issuer_keys(
    http: requests.Session, sandbox: Sandbox, issuer: str, token: str, audience: str
) -> dict[str, Any]:
    """Verify ``token`` as a relying party would: keys from ``issuer``'s discovery document, over HTTPS."""
    document = http.get(
        f"{issuer}/.well-known/openid-configuration", verify=sandbox.ca_file, timeout=10
    ).json()
    assert document["issuer"] == issuer
    jwks = jwt.PyJWKSet.from_dict(http.get(document["jwks_uri"], verify=sandbox.ca_file, timeout=10).json())
    key = jwks[jwt.get_unverified_header(token)["kid"]]
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=["RS256"], audience=audience, issuer=issuer
    )
    return claims


def exchange(sandbox: Sandbox, app: App, assertion: str) -> dict[str, Any]:
    with ClientAssertionCredential(
        app.tenant_id,
        app.client_id,
        lambda: assertion,
        authority=sandbox.authority,
        connection_verify=sandbox.ca_file,
        retry_total=0,
    ) as credential:
        return sandbox.verify_access_token(credential.get_token(STORAGE).token)


# --- GitHub Actions ------------------------------------------------------------------------------------


def github_id_token(
    http: requests.Session,
    sandbox: Sandbox,
    env: dict[str, str],
    audience: str | None = EXCHANGE,
    bearer: str | None = None,
) -> requests.Response:
    url = env["ACTIONS_ID_TOKEN_REQUEST_URL"] + (f"&audience={audience}" if audience else "")
    token = env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] if bearer is None else bearer
    return http.get(url, headers={"Authorization": f"Bearer {token}"}, verify=sandbox.ca_file, timeout=10)


def test_github_actions_env_looks_like_a_job_with_id_token_permission(sandbox: Sandbox) -> None:
    env = sandbox.github_actions_env()

    assert set(env) == {"ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "GITHUB_ACTIONS"}
    assert env["GITHUB_ACTIONS"] == "true"
    assert env["ACTIONS_ID_TOKEN_REQUEST_URL"].startswith(f"{sandbox.authority}/")
    assert env["ACTIONS_ID_TOKEN_REQUEST_URL"].endswith("?api-version=2.0")


def test_github_id_token_is_signed_by_the_github_issuer_with_realistic_claims(
    sandbox: Sandbox, http: requests.Session
) -> None:
    env = sandbox.github_actions_env(repository="contoso/api", ref="refs/heads/release", token_lifetime=120)

    response = github_id_token(http, sandbox, env)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    claims = verify_with_issuer_keys(http, sandbox, sandbox.github_issuer, body["value"], EXCHANGE)
    assert claims["iss"] == sandbox.github_issuer
    assert claims["sub"] == "repo:contoso/api:ref:refs/heads/release"
    assert (claims["repository"], claims["repository_owner"], claims["ref"]) == (
        "contoso/api",
        "contoso",
        "refs/heads/release",
    )
    assert claims["job_workflow_ref"].startswith("contoso/api/.github/workflows/")
    for name in ("sha", "workflow", "run_id", "actor", "event_name", "runner_environment"):
        assert claims[name], name
    assert claims["exp"] - claims["iat"] == 120
    assert sandbox.request_count("github") == 1


def test_github_subject_names_the_environment_when_the_job_has_one(
    sandbox: Sandbox, http: requests.Session
) -> None:
    env = sandbox.github_actions_env(environment="production")

    claims = jwt.decode(
        github_id_token(http, sandbox, env).json()["value"], options={"verify_signature": False}
    )

    assert claims["sub"] == "repo:octo-org/octo-repo:environment:production"
    assert claims["environment"] == "production"


def test_github_without_audience_uses_the_repository_owner_url(
    sandbox: Sandbox, http: requests.Session
) -> None:
    env = sandbox.github_actions_env()

    claims = jwt.decode(
        github_id_token(http, sandbox, env, audience=None).json()["value"],
        options={"verify_signature": False},
    )

    assert claims["aud"] == "https://github.com/octo-org"


@pytest.mark.parametrize("bearer", ["wrong-token", ""])
def test_github_rejects_a_wrong_or_missing_request_token(
    sandbox: Sandbox, http: requests.Session, bearer: str
) -> None:
    env = sandbox.github_actions_env()

    response = github_id_token(http, sandbox, env, bearer=bearer)

    assert response.status_code == 401
    assert "message" in response.json()


def test_github_request_token_of_one_job_does_not_open_another(
    sandbox: Sandbox, http: requests.Session
) -> None:
    first, second = sandbox.github_actions_env(), sandbox.github_actions_env()

    response = github_id_token(http, sandbox, first, bearer=second["ACTIONS_ID_TOKEN_REQUEST_TOKEN"])

    assert response.status_code == 401


def test_github_faults_answer_with_a_message_body(sandbox: Sandbox, http: requests.Session) -> None:
    env = sandbox.github_actions_env()
    sandbox.fail_next(endpoint="github", status=503, retry_after=2)

    failed = github_id_token(http, sandbox, env)
    recovered = github_id_token(http, sandbox, env)

    assert failed.status_code == 503
    assert failed.headers["Retry-After"] == "2"
    assert "message" in failed.json()
    assert recovered.status_code == 200


def test_entra_exchanges_a_github_token_for_an_app_that_trusts_the_repository(
    sandbox: Sandbox, http: requests.Session
) -> None:
    app = sandbox.register_app(
        issuer=sandbox.github_issuer, subject="repo:octo-org/octo-repo:ref:refs/heads/main"
    )
    other_branch = sandbox.github_actions_env(ref="refs/heads/feature")
    main_branch = sandbox.github_actions_env()

    claims = exchange(sandbox, app, github_id_token(http, sandbox, main_branch).json()["value"])
    with pytest.raises(ClientAuthenticationError, match="AADSTS700213"):
        exchange(sandbox, app, github_id_token(http, sandbox, other_branch).json()["value"])

    assert claims["appid"] == app.client_id


# --- Azure Pipelines -----------------------------------------------------------------------------------


def pipelines_oidc_token(
    http: requests.Session,
    sandbox: Sandbox,
    env: dict[str, str],
    connection_id: str | None = None,
    bearer: str | None = None,
) -> requests.Response:
    return http.post(
        env["SYSTEM_OIDCREQUESTURI"],
        params={
            "api-version": "7.1",
            "serviceConnectionId": connection_id or env["AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"],
        },
        headers={
            "Authorization": f"Bearer {env['SYSTEM_ACCESSTOKEN'] if bearer is None else bearer}",
            "X-TFS-FedAuthRedirect": "Suppress",
        },
        verify=sandbox.ca_file,
        timeout=10,
    )


def test_azure_pipelines_env_looks_like_a_workload_identity_service_connection(sandbox: Sandbox) -> None:
    env = sandbox.azure_pipelines_env(service_connection_id="3f2b0c4e-0000-4000-8000-000000000001")

    assert set(env) == {
        "SYSTEM_OIDCREQUESTURI",
        "SYSTEM_ACCESSTOKEN",
        "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID",
        "TF_BUILD",
    }
    assert env["AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"] == "3f2b0c4e-0000-4000-8000-000000000001"
    assert env["TF_BUILD"] == "True"
    assert env["SYSTEM_OIDCREQUESTURI"].startswith(f"{sandbox.authority}/")


def test_pipelines_oidc_token_is_signed_by_the_pipelines_issuer_for_the_service_connection(
    sandbox: Sandbox, http: requests.Session
) -> None:
    env = sandbox.azure_pipelines_env(organization="fabrikam", project="shop", connection_name="prod-sub")

    response = pipelines_oidc_token(http, sandbox, env)

    assert response.status_code == 200
    claims = verify_with_issuer_keys(
        http, sandbox, sandbox.pipelines_issuer, response.json()["oidcToken"], EXCHANGE
    )
    assert claims["iss"] == sandbox.pipelines_issuer
    assert claims["sub"] == "sc://fabrikam/shop/prod-sub"
    assert sandbox.request_count("pipelines") == 1


def test_pipelines_rejects_a_wrong_access_token(sandbox: Sandbox, http: requests.Session) -> None:
    env = sandbox.azure_pipelines_env()

    assert pipelines_oidc_token(http, sandbox, env, bearer="not-the-job-token").status_code == 401


def test_pipelines_answers_404_for_an_unknown_service_connection(
    sandbox: Sandbox, http: requests.Session
) -> None:
    env = sandbox.azure_pipelines_env()

    response = pipelines_oidc_token(http, sandbox, env, connection_id="00000000-0000-0000-0000-000000000000")

    assert response.status_code == 404
    assert "00000000-0000-0000-0000-000000000000" in response.json()["message"]


def test_entra_exchanges_a_pipelines_token_for_an_app_that_trusts_the_connection(
    sandbox: Sandbox, http: requests.Session
) -> None:
    app = sandbox.register_app(issuer=sandbox.pipelines_issuer, subject="sc://contoso/web/azure-prod")
    env = sandbox.azure_pipelines_env()

    claims = exchange(sandbox, app, pipelines_oidc_token(http, sandbox, env).json()["oidcToken"])

    assert claims["appid"] == app.client_id
