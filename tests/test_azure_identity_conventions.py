"""Conventions users know from azure-identity, kept: misspelled source keywords, a positional
assertion, and AZURE_IDENTITY_DISABLE_MULTITENANTAUTH."""

from __future__ import annotations

from typing import Any, Dict

import jwt
import pytest
from azure.identity import ClientAssertionCredential

from azure_wif_credential import FederatedTokenCredential
from azure_wif_credential.aio import FederatedTokenCredential as AioFederatedTokenCredential
from azure_wif_credential.sandbox import Sandbox

GUID = "00000000-0000-0000-0000-000000000001"
OTHER = "00000000-0000-0000-0000-000000000002"
SUBJECT = "system:serviceaccount:conventions:app"
STORAGE = "https://storage.azure.com/.default"


@pytest.mark.parametrize("credential", [FederatedTokenCredential, AioFederatedTokenCredential])
@pytest.mark.parametrize("keyword", ["tokenfile", "token_files", "assertions"])
def test_a_misspelled_source_keyword_is_a_type_error_with_a_suggestion(
    credential: type, keyword: str
) -> None:
    with pytest.raises(TypeError, match=rf"unexpected keyword argument '{keyword}'\. Did you mean"):
        credential(GUID, GUID, **{keyword: "/var/run/token"})


@pytest.mark.parametrize("credential", [FederatedTokenCredential, AioFederatedTokenCredential])
def test_a_positional_assertion_is_refused_naming_the_keyword(credential: type) -> None:
    with pytest.raises(TypeError, match="assertion=<callable"):
        credential(GUID, GUID, lambda: "a.b.c")


def test_disabling_multitenant_auth_uses_the_configured_tenant_as_azure_identity_does(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = sandbox.register_app(subject=SUBJECT)
    options: Dict[str, Any] = {"authority": sandbox.authority, "connection_verify": sandbox.ca_file}

    def assertion() -> str:
        return sandbox.issue_assertion(subject=SUBJECT)

    ours = FederatedTokenCredential(app.tenant_id, app.client_id, assertion=assertion, **options)
    theirs = ClientAssertionCredential(
        app.tenant_id, app.client_id, assertion, disable_instance_discovery=True, **options
    )
    monkeypatch.setenv("AZURE_IDENTITY_DISABLE_MULTITENANTAUTH", "true")
    for credential in (ours, theirs):
        token = credential.get_token(STORAGE, tenant_id=OTHER).token  # not allowed, yet no error: ignored
        assert jwt.decode(token, options={"verify_signature": False})["tid"] == app.tenant_id
