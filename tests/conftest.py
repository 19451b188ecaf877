"""Shared fixtures.

``sandbox``: one HTTPS Entra sandbox for the whole session (starting one makes keys and a CA). Every
test that uses it starts from a clean state: no records, no pending faults or latency, no cached issuer
keys, and the constructor's token settings. Registered apps stay, so give each test its own app
(``sandbox.register_app()``) and its own assertions; MSAL replays an identical failed request for a while.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from azure_wif_credential.sandbox import Sandbox
from azure_wif_credential.sandbox._azurite import Azurite, azurite_executable


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """The session's sandbox; reset around each test that uses it (see ``_clean_sandbox``)."""
    with Sandbox() as running:
        yield running


@pytest.fixture(autouse=True)
def _clean_sandbox(request: pytest.FixtureRequest) -> Iterator[None]:
    """Reset the session sandbox before and after each test that asks for it."""
    if "sandbox" not in request.fixturenames:
        yield
        return
    shared: Sandbox = request.getfixturevalue("sandbox")
    _restore(shared)
    yield
    _restore(shared)


_DEFAULTS = Sandbox()  # never started: only its default settings are read
_SETTINGS = ("token_lifetime", "refresh_in", "record_bodies", "clock_skew")


def _restore(sandbox: Sandbox) -> None:
    sandbox.reset()
    for name in _SETTINGS:
        setattr(sandbox, name, getattr(_DEFAULTS, name))


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """A running Azurite blob service (HTTPS, ``--oauth basic``); mark its tests ``@pytest.mark.azurite``.

    Skipped when Azurite is not installed, except in CI (CI=true), where the test command installs it.
    """
    if azurite_executable() is None:
        reason = "Azurite is not installed: run `npm ci` (README's test command does); it needs Node.js 18+"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with Azurite() as server:
        yield server
