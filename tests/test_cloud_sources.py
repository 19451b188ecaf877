"""AWS, Google Cloud and a managed identity as the assertion, end to end against the sandbox playing
each platform (the real botocore and azure-identity clients), and the absent or failing platform."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Callable, List

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError
from helpers import VirtualClock, claims_of, sandbox_credential

from azure_wif_credential import FederatedTokenCredential
from azure_wif_credential._policy import RefreshPolicy
from azure_wif_credential.aio import FederatedTokenCredential as AioFederatedTokenCredential
from azure_wif_credential.assertions import (
    AwsWebIdentityAssertion,
    GcpIdentityAssertion,
    ManagedIdentityAssertion,
)
from azure_wif_credential.sandbox import Sandbox

STORAGE = "https://storage.azure.com/.default"
CLOUD_VARIABLES = (
    "AWS_",
    "GCE_METADATA_HOST",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "IMDS_ENDPOINT",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "AZURE_AUTHORITY_HOST",
    "AZURE_WIF_",
)


@pytest.fixture(autouse=True)
def no_cloud(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sandbox: Sandbox) -> None:
    """No cloud variable leaks in, and nothing may reach a real metadata address or ~/.aws: botocore
    reads files under tmp_path and never asks the instance metadata service; azure-identity's IMDS is
    the sandbox's black hole."""
    for name in list(os.environ):
        if name.startswith(CLOUD_VARIABLES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://" + sandbox.black_hole())


def use(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)


class Recording:
    """Wraps a source and keeps what it returned (to read the assertion's claims in the test)."""

    def __init__(self, source: Callable[[], str]) -> None:
        self.source, self.seen = source, []  # type: ignore[var-annotated]

    def __call__(self) -> str:
        value = self.source()
        self.seen.append(value)
        return value


def credential_for(sandbox: Sandbox, subject: str, issuer: str, source: Any, **kwargs: Any) -> Any:
    app = sandbox.register_app(subject=subject, issuer=issuer)
    return sandbox_credential(sandbox, app, assertion=source, retry_total=0, **kwargs)


# --- AWS ---------------------------------------------------------------------------------------


def test_aws_web_identity_token_through_botocore_gets_an_entra_token(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, sandbox.aws_env("deploy"))
    source = Recording(AwsWebIdentityAssertion())
    with credential_for(sandbox, sandbox.aws_role_arn("deploy"), sandbox.aws_issuer, source) as credential:
        assert sandbox.verify_access_token(credential.get_token(STORAGE).token)
    claims = claims_of(source.seen[0])
    assert claims["sub"] == "arn:aws:iam::123456789012:role/deploy"
    assert claims["aud"] == "api://AzureADTokenExchange"
    assert claims["iss"].endswith(".tokens.sts.global.api.aws")
    assert claims["https://sts.amazonaws.com/"]["source_region"] == "us-east-1"
    assert sandbox.request_count("aws-sts") == 1


def test_aws_takes_a_botocore_session_and_works_with_the_aio_credential(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    import botocore.session

    use(monkeypatch, sandbox.aws_env("batch", region=None))
    source = Recording(AwsWebIdentityAssertion(region="eu-west-1", session=botocore.session.get_session()))
    credential = credential_for(
        sandbox, sandbox.aws_role_arn("batch"), sandbox.aws_issuer, source, kind=AioFederatedTokenCredential
    )

    async def run() -> str:
        async with credential:
            token: str = (await credential.get_token(STORAGE)).token
            return token

    assert sandbox.verify_access_token(asyncio.run(run()))
    assert claims_of(source.seen[0])["https://sts.amazonaws.com/"]["source_region"] == "eu-west-1"


def test_aws_without_a_region_is_unavailable_and_says_so(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, sandbox.aws_env(region=None))
    with pytest.raises(CredentialUnavailableError, match="no AWS region is configured"):
        AwsWebIdentityAssertion()()
    assert sandbox.request_count("aws-sts") == 0, "no silent default region"


def test_aws_without_credentials_is_unavailable(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with pytest.raises(CredentialUnavailableError, match="No AWS credentials"):
        AwsWebIdentityAssertion()()


@pytest.mark.parametrize(
    ("setup", "code", "hint"),
    [
        ("denied", "AccessDenied", "sts:GetWebIdentityToken"),
        (
            "disabled",
            "OutboundWebIdentityFederationDisabledException",
            "enable-outbound-web-identity-federation",
        ),
        ("unknown-key", "InvalidClientTokenId", "access key is not valid"),
    ],
)
def test_aws_errors_are_typed_and_explained(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, setup: str, code: str, hint: str
) -> None:
    env = sandbox.aws_env(allowed=setup != "denied")
    if setup == "unknown-key":
        env["AWS_ACCESS_KEY_ID"] = "AKIANOTKNOWN0000"
    use(monkeypatch, env)
    sandbox.aws_outbound_federation = setup != "disabled"
    try:
        with pytest.raises(ClientAuthenticationError) as raised:
            AwsWebIdentityAssertion()()
    finally:
        sandbox.aws_outbound_federation = True
    assert not isinstance(raised.value, CredentialUnavailableError)
    assert code in raised.value.message and hint in raised.value.message
    assert env["AWS_SECRET_ACCESS_KEY"] not in str(raised.value)


def test_aws_arguments_are_checked_at_construction() -> None:
    with pytest.raises(ValueError, match="signing_algorithm"):
        AwsWebIdentityAssertion(signing_algorithm="HS256")
    with pytest.raises(ValueError, match="between 60 and 3600"):
        AwsWebIdentityAssertion(duration_seconds=30)
    with pytest.raises(TypeError, match="session"):
        AwsWebIdentityAssertion(session=object())
    assert "ES384" in repr(AwsWebIdentityAssertion(signing_algorithm="ES384"))


# --- Google Cloud --------------------------------------------------------------------------------


def test_gcp_metadata_identity_token_gets_an_entra_token(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, sandbox.gcp_metadata_env())
    source = Recording(GcpIdentityAssertion())
    subject = sandbox.gcp_service_account_id
    with credential_for(sandbox, subject, sandbox.gcp_issuer, source) as credential:
        assert sandbox.verify_access_token(credential.get_token(STORAGE).token)
    claims = claims_of(source.seen[0])
    assert (claims["sub"], claims["aud"]) == (subject, "api://AzureADTokenExchange")
    assert claims["email"].endswith(".iam.gserviceaccount.com"), "format=full"
    request = sandbox.recorded("gce-metadata")[0]
    assert request.headers["metadata-flavor"] == "Google"


@pytest.mark.parametrize("absent", ["black-hole", "closed-port", "bad-host"])
def test_gcp_without_a_metadata_server_is_unavailable_quickly(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, absent: str
) -> None:
    import socket

    if absent == "black-hole":
        host = sandbox.black_hole()
    elif absent == "closed-port":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            host = f"127.0.0.1:{probe.getsockname()[1]}"
    else:
        host = "http://metadata.google.internal/"
    monkeypatch.setenv("GCE_METADATA_HOST", host)
    with pytest.raises(CredentialUnavailableError) as raised:
        GcpIdentityAssertion()()
    if absent == "black-hole":
        assert "timeout=1" in raised.value.message, "it gives up after one short connect"


def test_gcp_an_answer_without_metadata_flavor_is_not_google(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, sandbox.gcp_metadata_env())
    sandbox.answer_next(1, status=200, body="eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", endpoint="gce-metadata")
    with pytest.raises(ClientAuthenticationError, match="Metadata-Flavor: Google"):
        GcpIdentityAssertion()()


# --- a managed identity --------------------------------------------------------------------------


@pytest.mark.parametrize("client_id", [None, "c0ffee00-0000-4000-8000-000000000001"])
def test_a_managed_identity_token_is_the_assertion(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, client_id: Any
) -> None:
    use(monkeypatch, sandbox.managed_identity_env())
    principal = sandbox.managed_identity_principal(client_id)
    source = Recording(ManagedIdentityAssertion(client_id))
    with credential_for(sandbox, principal, sandbox.managed_identity_issuer, source) as credential:
        assert sandbox.verify_access_token(credential.get_token(STORAGE).token)
    assert claims_of(source.seen[0])["aud"] == "api://AzureADTokenExchange"
    assert sandbox.request_count("managed-identity") == 1


def test_no_managed_identity_is_unavailable_within_a_second_of_connecting() -> None:
    with pytest.raises(CredentialUnavailableError):
        ManagedIdentityAssertion()()  # IMDS is the sandbox's black hole (see no_cloud)


# --- every cloud source ----------------------------------------------------------------------------


@pytest.mark.parametrize("cloud", ["aws", "gcp", "managed-identity"])
def test_a_long_job_outlives_the_platform_token_with_a_fresh_one_per_exchange(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, cloud: str
) -> None:
    clock = VirtualClock()
    source: Callable[[], str]
    if cloud == "aws":
        use(monkeypatch, sandbox.aws_env("job"))
        subject, issuer, source, endpoint = (
            sandbox.aws_role_arn("job"),
            sandbox.aws_issuer,
            AwsWebIdentityAssertion(duration_seconds=60),
            "aws-sts",
        )
    elif cloud == "gcp":
        use(monkeypatch, sandbox.gcp_metadata_env())
        subject, issuer, source, endpoint = (
            sandbox.gcp_service_account_id,
            sandbox.gcp_issuer,
            GcpIdentityAssertion(),
            "gce-metadata",
        )
    else:
        use(monkeypatch, sandbox.managed_identity_env())
        subject, issuer = sandbox.managed_identity_principal(), sandbox.managed_identity_issuer
        source, endpoint = ManagedIdentityAssertion(), "managed-identity"
    recording = Recording(source)
    with credential_for(
        sandbox, subject, issuer, recording, refresh_policy=RefreshPolicy(clock=clock)
    ) as credential:
        first = credential.get_token(STORAGE)
        clock.now = first.expires_on - 30  # hours later: the mandatory window
        second = credential.get_token(STORAGE)
    assert second.token != first.token and sandbox.verify_access_token(second.token)
    if cloud != "managed-identity":  # azure-identity caches the managed identity's own token
        assert sandbox.request_count(endpoint) == 2 and len(recording.seen) == 2, "asked afresh per exchange"


@pytest.mark.parametrize(
    ("authority", "audience"),
    [
        ("login.microsoftonline.us", "api://AzureADTokenExchangeUSGov"),
        ("login.chinacloudapi.cn", "api://AzureADTokenExchangeChina"),
    ],
)
def test_each_cloud_source_defaults_to_the_sovereign_clouds_audience(
    monkeypatch: pytest.MonkeyPatch, authority: str, audience: str
) -> None:
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", f"https://{authority}")
    for source in (AwsWebIdentityAssertion(), GcpIdentityAssertion(), ManagedIdentityAssertion()):
        assert source.audience == audience and audience in repr(source)


def test_from_environment_uses_a_cloud_source_only_when_named(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = sandbox.register_app(subject=sandbox.gcp_service_account_id, issuer=sandbox.gcp_issuer)
    use(
        monkeypatch,
        {"AZURE_TENANT_ID": app.tenant_id, "AZURE_CLIENT_ID": app.client_id, **sandbox.gcp_metadata_env()},
    )
    use(monkeypatch, sandbox.aws_env())  # incidental AWS credentials on a laptop: never guessed
    arguments = dict(authority=sandbox.authority, connection_verify=sandbox.ca_file)
    with pytest.raises(CredentialUnavailableError, match="AZURE_WIF_ASSERTION_SOURCE names them"):
        FederatedTokenCredential.from_environment(**arguments).get_token(STORAGE)
    monkeypatch.setenv("AZURE_WIF_ASSERTION_SOURCE", "gcp")
    with FederatedTokenCredential.from_environment(**arguments) as credential:
        assert sandbox.verify_access_token(credential.get_token(STORAGE).token)
    monkeypatch.setenv("AZURE_WIF_ASSERTION_SOURCE", "azure")
    with pytest.raises(CredentialUnavailableError, match="not one of file, github-actions"):
        FederatedTokenCredential.from_environment(**arguments).get_token(STORAGE)


def test_aws_off_cloud_with_a_silent_metadata_address_is_unavailable(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No keys anywhere, and the instance metadata address drops packets (as off EC2): botocore's
    chain gives up after its one-second metadata attempt."""
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://" + sandbox.black_hole())
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with pytest.raises(CredentialUnavailableError, match="No AWS credentials"):
        AwsWebIdentityAssertion()()


@pytest.mark.parametrize("cloud", ["gcp", "managed-identity"])
def test_gcp_and_managed_identity_with_the_aio_credential(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, cloud: str
) -> None:
    if cloud == "gcp":
        use(monkeypatch, sandbox.gcp_metadata_env())
        subject, issuer, source = sandbox.gcp_service_account_id, sandbox.gcp_issuer, GcpIdentityAssertion()
    else:
        use(monkeypatch, sandbox.managed_identity_env())
        subject, issuer = sandbox.managed_identity_principal(), sandbox.managed_identity_issuer
        source = ManagedIdentityAssertion()  # type: ignore[assignment]
    credential = credential_for(sandbox, subject, issuer, source, kind=AioFederatedTokenCredential)

    async def run() -> List[str]:
        async with credential:
            return [t.token for t in await asyncio.gather(*(credential.get_token(STORAGE) for _ in range(8)))]

    tokens = asyncio.run(run())
    assert len(set(tokens)) == 1 and sandbox.verify_access_token(tokens[0])
    assert sandbox.request_count("token") == 1


def test_platform_refusals_are_typed_and_explained(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    env = sandbox.managed_identity_env()
    env["IDENTITY_HEADER"] = "not-the-header"
    use(monkeypatch, env)
    with pytest.raises(ClientAuthenticationError) as managed:
        ManagedIdentityAssertion()()
    assert "not-the-header" not in str(managed.value)
    use(monkeypatch, sandbox.gcp_metadata_env())
    sandbox.answer_next(
        1,
        status=403,
        body="Missing required header",
        headers=[("Metadata-Flavor", "Google")],
        endpoint="gce-metadata",
    )
    with pytest.raises(ClientAuthenticationError, match="HTTP 403") as google:
        GcpIdentityAssertion()()
    assert not isinstance(google.value, CredentialUnavailableError)
