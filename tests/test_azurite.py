"""End to end: a sandbox access token opens Azure Storage (Azurite, ``--oauth basic``) over HTTPS.

The token comes from the sandbox through real, unmodified MSAL (client credentials grant with a
federated client assertion) and reaches Azurite through azure-storage-blob's own bearer-token policy.
Azurite checks the token's issuer, audience and lifetime (not its signature): the refusal tests show
that it does, so the round trip proves the sandbox's claims are what Azure Storage expects.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import msal
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.storage.blob import BlobServiceClient
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import claims_of

from azure_wif_credential.sandbox import Sandbox
from azure_wif_credential.testing import Azurite

pytestmark = pytest.mark.azurite

STORAGE_SCOPE = "https://storage.azure.com/.default"
SUBJECT = "system:serviceaccount:default:blob-writer"


class StaticTokenCredential:
    """Hands out one fixed access token: the minimal TokenCredential (until ours exists)."""

    def __init__(self, token: str) -> None:
        self._token = token
        self._expires_on = int(claims_of(token)["exp"])

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return AccessToken(self._token, self._expires_on)


@pytest.fixture(scope="module")
def storage_token(sandbox: Sandbox) -> str:
    """An access token for Azure Storage, issued by the sandbox to a federated app through MSAL."""
    with sandbox.http_client() as http:
        app = sandbox.register_app(subject=SUBJECT)
        assertion = sandbox.issue_assertion(subject=SUBJECT)
        client = msal.ConfidentialClientApplication(
            app.client_id,
            authority=f"{sandbox.authority}/{app.tenant_id}",
            client_credential={"client_assertion": lambda: assertion},
            instance_discovery=False,
            http_client=http,
        )
        result: dict[str, Any] = client.acquire_token_for_client(scopes=[STORAGE_SCOPE])
    assert "access_token" in result, (
        f"the sandbox refused the token request: {result.get('error_description')}"
    )
    token: str = result["access_token"]
    return token


def _withclaims_of(token: str, **changes: Any) -> str:
    """The token's claims with ``changes``, signed by a throwaway key (Azurite does not check signatures)."""
    return jwt.encode(
        {**claims_of(token), **changes}, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256"
    )


def _blob_service(azurite: Azurite, token: str) -> BlobServiceClient:
    return BlobServiceClient(
        azurite.account_url, credential=StaticTokenCredential(token), connection_verify=azurite.ca_file
    )


def _container_name() -> str:
    return f"e2e-{uuid.uuid4().hex}"


def _assert_refused(azurite: Azurite, token: str, reason: str) -> None:
    with _blob_service(azurite, token) as service, pytest.raises(ClientAuthenticationError) as refused:
        service.create_container(_container_name())
    assert refused.value.status_code == 403
    assert getattr(refused.value, "error_code", None) == "AuthenticationFailed"
    assert reason in str(refused.value)


def test_sandbox_token_lets_blob_client_create_container_upload_and_download(
    azurite: Azurite, storage_token: str
) -> None:
    payload = b"written with a token from the azure-wif-credential sandbox\n"

    with _blob_service(azurite, storage_token) as service:
        container = service.create_container(_container_name())
        container.upload_blob("hello.txt", payload)
        downloaded = container.download_blob("hello.txt").readall()
        names = [blob.name for blob in container.list_blobs()]

    assert downloaded == payload
    assert names == ["hello.txt"]


def test_expired_token_is_refused(azurite: Azurite, storage_token: str) -> None:
    now = int(time.time())
    expired = _withclaims_of(storage_token, iat=now - 7200, nbf=now - 7200, exp=now - 300)

    _assert_refused(azurite, expired, "The token is expired")


def test_token_for_another_audience_is_refused(azurite: Azurite, storage_token: str) -> None:
    for_key_vault = _withclaims_of(storage_token, aud="https://vault.azure.net")

    _assert_refused(azurite, for_key_vault, "Invalid token audience")


def test_token_from_another_issuer_is_refused(azurite: Azurite, storage_token: str) -> None:
    foreign = _withclaims_of(storage_token, iss="https://issuer.example.com/not-entra/")

    _assert_refused(azurite, foreign, "Invalid token issuer")
