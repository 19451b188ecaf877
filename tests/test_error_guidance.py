"""Errors that point at the fix: a wrong tenant keeps Entra's AADSTS code, an untrusted certificate is
called that (not a tenant problem), and a wrong audience says first what the standard audience is."""

from __future__ import annotations

from typing import Dict

import pytest

from azure_wif_credential import FederatedTokenCredential, TokenExchangeError
from azure_wif_credential.sandbox import Sandbox

SUBJECT = "system:serviceaccount:guide:app"
STORAGE = "https://storage.azure.com/.default"


def test_a_tenant_that_does_not_exist_surfaces_entras_aadsts90002_from_discovery(sandbox: Sandbox) -> None:
    app = sandbox.register_app(subject=SUBJECT)
    credential = FederatedTokenCredential(
        "no-such-tenant.example",
        app.client_id,
        assertion=lambda: sandbox.issue_assertion(subject=SUBJECT),
        authority=sandbox.authority,
        connection_verify=sandbox.ca_file,
    )
    with pytest.raises(TokenExchangeError) as caught:
        credential.get_token(STORAGE)
    assert caught.value.error_codes == [90002]
    assert caught.value.status_code == 400 and caught.value.retryable is False
    assert "check AZURE_TENANT_ID" in str(caught.value)
    assert sandbox.request_count("token") == 0, "it failed at discovery"


def test_an_untrusted_certificate_is_explained_as_one_and_not_retryable(sandbox: Sandbox) -> None:
    app = sandbox.register_app(subject=SUBJECT)
    credential = FederatedTokenCredential(  # no connection_verify: the sandbox's CA is not trusted
        app.tenant_id,
        app.client_id,
        assertion=lambda: sandbox.issue_assertion(subject=SUBJECT),
        authority=sandbox.authority,
        retry_total=0,
    )
    with pytest.raises(TokenExchangeError) as caught:
        credential.get_token(STORAGE)
    message = str(caught.value)
    assert "certificate is not trusted" in message and "connection_verify=" in message
    assert "--ca-file" in message and "REQUESTS_CA_BUNDLE" in message
    assert "tenant" not in message.lower()
    assert caught.value.retryable is False


def test_a_wrong_audience_hint_says_first_that_the_standard_audience_is_api_azureadtokenexchange(
    sandbox: Sandbox,
) -> None:
    app = sandbox.register_app(subject=SUBJECT)
    credential = FederatedTokenCredential(
        app.tenant_id,
        app.client_id,
        assertion=lambda: sandbox.issue_assertion(subject=SUBJECT, audience="api://my-custom-audience"),
        authority=sandbox.authority,
        connection_verify=sandbox.ca_file,
    )
    with pytest.raises(TokenExchangeError) as caught:
        credential.get_token(STORAGE)
    hint = caught.value.hint or ""
    assert hint.startswith(
        "The assertion's audience 'api://my-custom-audience' is not the token-exchange audience"
    )
    assert hint.index("'api://AzureADTokenExchange'") < hint.index("federated identity credential")


@pytest.mark.parametrize(
    ("legacy", "register", "claims", "code"),
    [
        (False, {"issuer": "https://other.example"}, {}, 700211),
        (False, {}, {"subject": "system:serviceaccount:guide:other"}, 700213),
        (False, {"audience": "api://custom"}, {}, 700212),
        (True, {}, {"subject": "system:serviceaccount:guide:other"}, 70021),
    ],
    ids=["issuer 700211", "subject 700213", "audience 700212", "legacy 70021"],
)
def test_every_fic_mismatch_code_gets_the_presented_values_and_the_way_to_compare(
    legacy: bool, register: Dict[str, str], claims: Dict[str, str], code: int
) -> None:
    with Sandbox(legacy_fic_errors=legacy) as sandbox:
        app = sandbox.register_app(subject=SUBJECT, **register)
        presented = {"subject": SUBJECT, **claims}
        credential = FederatedTokenCredential(
            app.tenant_id,
            app.client_id,
            assertion=lambda: sandbox.issue_assertion(subject=presented["subject"]),
            authority=sandbox.authority,
            connection_verify=sandbox.ca_file,
            retry_total=0,
        )
        with credential, pytest.raises(TokenExchangeError) as caught:
            credential.get_token(STORAGE)
        issuer = sandbox.issuer
    error = caught.value
    assert error.error_codes == [code] and error.hint is not None
    assert f"subject={presented['subject']!r}" in error.hint and f"issuer={issuer!r}" in error.hint
    assert f"azure-wif-credential trust list --app {app.client_id}" in error.hint
    assert "azure-wif-credential doctor" in error.hint
