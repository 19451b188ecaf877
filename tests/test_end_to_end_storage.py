"""The main job, for real: Azure Storage SDK clients on Azurite, authenticated by our credentials."""

from __future__ import annotations

import asyncio
import time
from typing import Any, List

import pytest
from azure.core.credentials import AccessToken
from azure.identity import ChainedTokenCredential, CredentialUnavailableError
from azure.storage.blob import BlobServiceClient
from azure.storage.blob.aio import BlobServiceClient as AsyncBlobServiceClient

from azure_wif_credential import FederatedTokenCredential
from azure_wif_credential import aio as wif_aio
from azure_wif_credential._cli._demo import run as run_demo
from azure_wif_credential.sandbox import Sandbox
from azure_wif_credential.testing import Azurite

pytestmark = pytest.mark.azurite
SUBJECT = "system:serviceaccount:storage:writer"


class Unavailable:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        raise CredentialUnavailableError(message="not here")


def test_blob_round_trip_with_federated_token_credential(sandbox: Sandbox, azurite: Azurite) -> None:
    app = sandbox.register_app(subject=SUBJECT)
    with FederatedTokenCredential(
        app.tenant_id,
        app.client_id,
        assertion=lambda: sandbox.issue_assertion(subject=SUBJECT),
        authority=sandbox.authority,
        connection_verify=sandbox.ca_file,
    ) as credential:
        with BlobServiceClient(
            azurite.account_url, credential=credential, connection_verify=azurite.ca_file
        ) as blobs:
            container = blobs.create_container(f"sync{int(time.time() * 1000)}")
            container.upload_blob("a.txt", b"federated")
            assert container.download_blob("a.txt").readall() == b"federated"
            assert [b.name for b in container.list_blobs()] == ["a.txt"]
    assert sandbox.request_count("token") == 1, "every storage call after the first used the cached token"


def test_blob_round_trip_through_a_chained_token_credential(sandbox: Sandbox, azurite: Azurite) -> None:
    app = sandbox.register_app(subject=SUBJECT)
    ours = FederatedTokenCredential(
        app.tenant_id,
        app.client_id,
        assertion=lambda: sandbox.issue_assertion(subject=SUBJECT),
        authority=sandbox.authority,
        connection_verify=sandbox.ca_file,
    )
    chain = ChainedTokenCredential(Unavailable(), ours)
    with (
        ours,
        BlobServiceClient(azurite.account_url, credential=chain, connection_verify=azurite.ca_file) as blobs,
    ):
        container = blobs.create_container(f"chain{int(time.time() * 1000)}")
        container.upload_blob("b.txt", b"chained")
        assert container.download_blob("b.txt").readall() == b"chained"


def test_async_blob_round_trip_with_the_aio_credential(sandbox: Sandbox, azurite: Azurite) -> None:
    app = sandbox.register_app(subject=SUBJECT)

    async def assertion() -> str:
        return sandbox.issue_assertion(subject=SUBJECT)

    async def main() -> bytes:
        async with (
            wif_aio.FederatedTokenCredential(
                app.tenant_id,
                app.client_id,
                assertion=assertion,
                authority=sandbox.authority,
                connection_verify=sandbox.ca_file,
            ) as credential,
            AsyncBlobServiceClient(
                azurite.account_url, credential=credential, connection_verify=azurite.ca_file
            ) as blobs,
        ):
            container = await blobs.create_container(f"aio{int(time.time() * 1000)}")
            await container.upload_blob("c.txt", b"async")
            data: bytes = await (await container.download_blob("c.txt")).readall()
            return data

    assert asyncio.run(main()) == b"async"
    assert sandbox.request_count("token") == 1


def test_the_demo_runs_the_whole_flow_and_never_prints_a_token(azurite: Azurite) -> None:
    lines: List[str] = []
    assert run_demo([], out=lines.append) == 0
    text = "\n".join(lines)
    assert "created a container, uploaded and downloaded a blob" in text
    assert "AADSTS700213" in text and "Hint:" in text
    assert "eyJ" not in text, "no JWT (assertion or access token) is printed"


def test_the_demo_without_azurite_still_gets_a_token() -> None:
    lines: List[str] = []
    assert run_demo(["--no-azurite"], out=lines.append) == 0
    text = "\n".join(lines)
    assert '"aud": "https://storage.azure.com"' in text
    assert "Skipped Azure Storage" in text
    assert "(in 59 min)" in text, "times for people, not bare epochs"
    for claim in ("aud", "iss", "sub", "appid", "tid", "xms_cc"):
        assert any(line.strip().startswith(f"{claim} ") for line in lines), f"the demo explains {claim}"
