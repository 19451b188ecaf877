"""Test and demo tooling beside the Entra sandbox: the Azurite storage emulator harness (the pytest
fixtures live in ``azure_wif_credential.pytest_plugin``)."""

from ._azurite import AZURITE_VARIABLE, Azurite, AzuriteError, azurite_executable, find_azurite

__all__ = ["AZURITE_VARIABLE", "Azurite", "AzuriteError", "azurite_executable", "find_azurite"]
