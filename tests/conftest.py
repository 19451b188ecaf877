"""Shared fixtures.

``sandbox``: one HTTPS Entra sandbox for the whole session (starting one makes keys and a CA). Every
test that uses it starts from a clean state: no records, no pending faults or latency, no cached issuer
keys, and the constructor's token settings. Registered apps stay, so give each test its own app
(``sandbox.register_app()``) and its own assertions; MSAL replays an identical failed request for a while.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from azure_wif_credential.sandbox import Sandbox


@pytest.fixture(scope="session")
def sandbox(entra_sandbox: Sandbox) -> Sandbox:
    """The session's sandbox (the package's own ``entra_sandbox`` fixture); reset around each test that
    uses it (see ``_clean_sandbox``)."""
    return entra_sandbox


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
_SETTINGS = ("token_lifetime", "refresh_in", "record_bodies", "clock_skew", "fic_propagation_delay")


def _restore(sandbox: Sandbox) -> None:
    # A test that gave up on a slow request (a read timeout against injected latency) leaves it in
    # flight: let it finish first, or it is recorded in the next test's counts.
    sandbox.reset()  # clears injected latency: held requests are answered now
    deadline = time.monotonic() + 10
    while sandbox.in_flight(None) and time.monotonic() < deadline:
        time.sleep(0.01)
    sandbox.reset()
    for name in _SETTINGS:
        setattr(sandbox, name, getattr(_DEFAULTS, name))
