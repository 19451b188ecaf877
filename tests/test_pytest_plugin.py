"""The pytest plugin, as a user meets it: a small project of their own, in a temporary directory, whose
tests use entra_sandbox, federated_credential, aio_federated_credential and azurite without importing
anything of ours (the fixtures come through the pytest11 entry point)."""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["pytester"]

USER_TESTS = """
import asyncio

from azure.storage.blob import BlobServiceClient

STORAGE = "https://storage.azure.com/.default"


def test_a_token_from_the_sandbox(entra_sandbox, federated_credential):
    token = federated_credential.get_token(STORAGE)
    assert entra_sandbox.verify_access_token(token.token)["aud"] == "https://storage.azure.com"


def test_the_async_credential(entra_sandbox, aio_federated_credential):
    async def get():
        return await aio_federated_credential.get_token(STORAGE)

    assert entra_sandbox.verify_access_token(asyncio.run(get()).token)


def test_upload(federated_credential, azurite):
    client = BlobServiceClient(azurite.blob_url, credential=federated_credential,
                               connection_verify=azurite.ca_file)
    with client:
        container = client.create_container("user-project")
        container.upload_blob("report.txt", b"offline, with a real token")
        assert container.download_blob("report.txt").readall() == b"offline, with a real token"
"""


def test_a_users_project_gets_the_fixtures_from_the_installed_package(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user_code=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    if os.environ.get("CI") == "true" or "Azurite is not installed" not in result.stdout.str():
        result.assert_outcomes(passed=3)
    else:
        result.assert_outcomes(passed=2, skipped=1)
    assert "eyJ" not in result.stdout.str()
