"""The pytest plugin (entry point ``pytest11``): registers the fixtures of
:mod:`azure_wif_credential.testing` for every project that installs this package, so a user's tests get
``entra_sandbox``, ``federated_credential``, ``aio_federated_credential`` and ``azurite`` without an
import."""

from __future__ import annotations

from .testing._fixtures import aio_federated_credential, azurite, entra_sandbox, federated_credential

__all__ = ["aio_federated_credential", "azurite", "entra_sandbox", "federated_credential"]
