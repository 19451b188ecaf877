"""What stays bounded however long a credential lives and whatever its callers send: the MSAL clients
kept per tenant, and what a failing command shows of its command line."""

from __future__ import annotations

import sys
from typing import Any, List

import pytest
from azure.core.exceptions import ClientAuthenticationError
from helpers import sandbox_credential

from azure_wif_credential._msal import _exchange
from azure_wif_credential.assertions import CommandAssertion
from azure_wif_credential.sandbox import Sandbox

STORAGE = "https://storage.azure.com/.default"
SUBJECT = "system:serviceaccount:default:web"


def test_msal_clients_per_tenant_are_bounded_by_an_lru(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A multi-tenant credential keeps at most MAX_CLIENTS MSAL clients: a tenant that comes back
    after MAX_CLIENTS others builds its client again (one more discovery request); a recent one does not."""
    monkeypatch.setattr(_exchange, "MAX_CLIENTS", 4)
    home = sandbox.register_app(subject=SUBJECT)
    tenants: List[str] = [home.tenant_id]
    for _ in range(5):
        tenants.append(sandbox.register_app(subject=SUBJECT, client_id=home.client_id).tenant_id)
    with sandbox_credential(sandbox, home, additionally_allowed_tenants=["*"]) as credential:
        for tenant in tenants:
            assert sandbox.verify_access_token(credential.get_token(STORAGE, tenant_id=tenant).token)
        discovery = sandbox.request_count("openid-configuration")

        def challenge(tenant: str) -> Any:  # a claims challenge always reaches Entra, through the client
            return credential.get_token(STORAGE, tenant_id=tenant, claims='{"access_token": {}}')

        challenge(tenants[-1])
        assert sandbox.request_count("openid-configuration") == discovery, "a recent tenant's client is kept"
        challenge(tenants[0])
        assert sandbox.request_count("openid-configuration") == discovery + 1, "the oldest was dropped"


BEARER = "ya29.c2VjcmV0LXRva2VuLXBhc3NlZC1hcy1hbi1hcmd1bWVudA"


@pytest.mark.parametrize(
    "args",
    [
        ["wif-no-such-agent", "--token", BEARER],
        ["wif-no-such-agent", f"--token={BEARER}"],
        [sys.executable, "-c", "import sys; sys.exit(3)", BEARER],
        [sys.executable, "-c", "import time; time.sleep(5)", BEARER],
    ],
)
def test_a_failing_command_shows_its_program_and_flags_not_its_arguments(args: List[str]) -> None:
    source = CommandAssertion(args, timeout=0.5)
    with pytest.raises(ClientAuthenticationError) as caught:
        source()
    text = str(caught.value)
    assert BEARER not in text and BEARER[:20] not in text
    assert args[0] in text
