"""Offline test fixtures for code that reaches Azure: registered with pytest (entry point ``pytest11``)
when this package is installed, so a user's tests get them without any import.

- ``entra_sandbox`` (session): a started :class:`~azure_wif_credential.sandbox.Sandbox`.
- ``federated_credential`` (function): a :class:`~azure_wif_credential.FederatedTokenCredential` for an
  app registered in it, exchanging the sandbox's own assertions; closed after the test.
- ``aio_federated_credential`` (function): the same, from :mod:`azure_wif_credential.aio`.
- ``azurite`` (session): a started Azurite blob service that accepts the sandbox's tokens, with
  ``.blob_url`` and ``.ca_file``; the test is skipped, with the reason, when Node.js or Azurite is not
  installed, and fails instead when ``CI=true``.

::

    def test_upload(entra_sandbox, federated_credential, azurite):
        client = BlobServiceClient(azurite.blob_url, credential=federated_credential,
                                   connection_verify=azurite.ca_file)
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:
    from .. import FederatedTokenCredential
    from ..aio import FederatedTokenCredential as AioFederatedTokenCredential
    from ._azurite import Azurite
    from .sandbox import Sandbox

#: The subject of the app the credential fixtures use (and of the assertions they present).
FIXTURE_SUBJECT = "system:serviceaccount:tests:app"


@pytest.fixture(scope="session")
def entra_sandbox() -> Iterator[Sandbox]:
    """A started Entra sandbox (HTTPS on 127.0.0.1) for the whole test session."""
    from .sandbox import Sandbox

    with Sandbox() as sandbox:
        yield sandbox


def _credential_arguments(sandbox: Sandbox) -> dict[str, Any]:
    app = sandbox.register_app(subject=FIXTURE_SUBJECT)
    return {
        "tenant_id": app.tenant_id,
        "client_id": app.client_id,
        "assertion": lambda: sandbox.issue_assertion(subject=FIXTURE_SUBJECT),
        "authority": sandbox.authority,
        "connection_verify": sandbox.ca_file,
    }


@pytest.fixture
def federated_credential(entra_sandbox: Sandbox) -> Iterator[FederatedTokenCredential]:
    """A FederatedTokenCredential for a new app in ``entra_sandbox``; closed after the test."""
    from .. import FederatedTokenCredential

    arguments = _credential_arguments(entra_sandbox)
    with FederatedTokenCredential(
        arguments.pop("tenant_id"), arguments.pop("client_id"), **arguments
    ) as credential:
        yield credential


@pytest.fixture
def aio_federated_credential(entra_sandbox: Sandbox) -> Iterator[AioFederatedTokenCredential]:
    """The async twin of ``federated_credential``; closed after the test."""
    from ..aio import FederatedTokenCredential as AioFederatedTokenCredential

    arguments = _credential_arguments(entra_sandbox)
    credential = AioFederatedTokenCredential(
        arguments.pop("tenant_id"), arguments.pop("client_id"), **arguments
    )
    yield credential
    asyncio.run(credential.close())


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """A running Azurite blob service (HTTPS, OAuth on) that accepts the sandbox's tokens."""
    from ._azurite import AZURITE_VARIABLE, Azurite, find_azurite

    found = find_azurite()
    if found is None:
        reason = (
            "Azurite is not installed: it needs Node.js and `npm install azurite` (azurite-blob in "
            f"node_modules/.bin or on PATH, or ${AZURITE_VARIABLE} naming it)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with Azurite(executable=found[0]) as server:
        yield server
