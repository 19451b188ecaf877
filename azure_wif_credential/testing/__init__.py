"""Test and demo tooling, under one roof: the Entra sandbox (:mod:`azure_wif_credential.testing.sandbox`,
also importable as ``azure_wif_credential.sandbox``), the Azurite storage emulator harness, and the
pytest fixtures (registered as ``azure_wif_credential.pytest_plugin``)."""

from ._azurite import AZURITE_VARIABLE, Azurite, AzuriteError, azurite_executable, find_azurite

__all__ = ["AZURITE_VARIABLE", "Azurite", "AzuriteError", "azurite_executable", "find_azurite"]
