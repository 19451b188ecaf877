"""EnvironmentAssertion: a token the CI platform puts in an environment variable."""

from __future__ import annotations

import pytest
from azure.identity import CredentialUnavailableError

from azure_wif_credential.assertions import EnvironmentAssertion

VARIABLE = "WIF_TEST_OIDC_TOKEN"


def test_variable_is_read_at_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    source = EnvironmentAssertion(VARIABLE)
    monkeypatch.setenv(VARIABLE, "first")
    assert source() == "first"
    monkeypatch.setenv(VARIABLE, "second")
    assert source() == "second"


def test_surrounding_whitespace_is_stripped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE, "  token-text\n")
    assert EnvironmentAssertion(VARIABLE)() == "token-text"


def test_unset_variable_is_unavailable_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VARIABLE, raising=False)
    with pytest.raises(CredentialUnavailableError, match=f"{VARIABLE} is not set"):
        EnvironmentAssertion(VARIABLE)()


def test_empty_variable_is_unavailable_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE, "  ")
    with pytest.raises(CredentialUnavailableError, match=f"{VARIABLE} is empty"):
        EnvironmentAssertion(VARIABLE)()


def test_an_explicit_environ_mapping_is_read_instead_of_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(VARIABLE, "from-os-environ")
    assert EnvironmentAssertion(VARIABLE, environ={VARIABLE: "from-mapping"})() == "from-mapping"


def test_repr_names_the_variable_and_never_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE, "secret-token-value")
    source = EnvironmentAssertion(VARIABLE)
    source()
    assert repr(source) == f"EnvironmentAssertion('{VARIABLE}')"


def test_a_variable_name_is_required() -> None:
    with pytest.raises(ValueError, match="name of the variable"):
        EnvironmentAssertion("")
