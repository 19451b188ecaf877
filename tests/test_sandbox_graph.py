"""The sandbox's Graph as today's Graph answers: FICs addressed by name as Graph's key (what the Graph
SDK's federated_identity_credentials_with_name sends), upsert by name, the 600-character description,
a duplicate issuer and subject refused naming the FIC that has them, and the doubled slash after the
version that Graph SDK clients send."""

from __future__ import annotations

from typing import Any, Iterator, Tuple

import pytest
import requests
from helpers import sandbox_credential, sandbox_fics

from azure_wif_credential.sandbox import Sandbox
from azure_wif_credential.trust import FederatedIdentityCredential


@pytest.fixture
def graph(sandbox: Sandbox) -> Iterator[Tuple[requests.Session, str]]:
    """A session authorised for the sandbox's Graph and the base URL of one app's FICs."""
    admin = sandbox.register_app(subject="admin", graph_roles=["Application.ReadWrite.All"])
    app = sandbox.register_app(subject=None, tenant_id=admin.tenant_id)
    with sandbox_credential(sandbox, admin, "admin") as credential:
        token = credential.get_token(f"{sandbox.graph_endpoint}/.default").token
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify=
    session.verify = sandbox.ca_file
    session.headers["Authorization"] = f"Bearer {token}"
    yield (
        session,
        f"{sandbox.graph_endpoint}/v1.0/applications(appId='{app.client_id}')/federatedIdentityCredentials",
    )
    session.close()


def body(sandbox: Sandbox, subject: str, **extra: Any) -> dict[str, Any]:
    return {
        "issuer": sandbox.issuer,
        "subject": subject,
        "audiences": ["api://AzureADTokenExchange"],
        **extra,
    }


def test_a_fic_is_addressed_by_name_as_graphs_key(
    sandbox: Sandbox, graph: Tuple[requests.Session, str]
) -> None:
    session, base = graph
    assert session.post(base, json=body(sandbox, "one", name="main")).status_code == 201
    got = session.get(f"{base}(name='main')")
    assert got.status_code == 200 and got.json()["subject"] == "one"
    assert session.patch(f"{base}(name='main')", json={"description": "the main branch"}).status_code == 204
    assert session.get(f"{base}(name='main')").json()["description"] == "the main branch"
    assert session.delete(f"{base}(name='main')").status_code == 204
    missing = session.get(f"{base}(name='main')")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "Request_ResourceNotFound"


def test_patch_by_name_upserts(sandbox: Sandbox, graph: Tuple[requests.Session, str]) -> None:
    session, base = graph
    created = session.patch(f"{base}(name='deploy')", json=body(sandbox, "deploy"))
    assert created.status_code == 201 and created.json()["name"] == "deploy"
    updated = session.patch(f"{base}(name='deploy')", json={"subject": "deploy-2"})
    assert updated.status_code == 204
    assert session.get(f"{base}(name='deploy')").json()["subject"] == "deploy-2"


def test_a_description_is_at_most_600_characters(
    sandbox: Sandbox, graph: Tuple[requests.Session, str]
) -> None:
    session, base = graph
    refused = session.post(base, json=body(sandbox, "long", name="long", description="d" * 601))
    assert refused.status_code == 400 and "description" in refused.json()["error"]["message"]
    assert (
        session.post(base, json=body(sandbox, "okay", name="okay", description="d" * 600)).status_code == 201
    )
    with pytest.raises(ValueError, match="description: at most 600"):
        FederatedIdentityCredential(
            name="x-long", issuer=sandbox.issuer, subject="s", description="d" * 601
        ).validate()


def test_a_duplicate_issuer_and_subject_names_the_fic_that_has_them(
    sandbox: Sandbox, graph: Tuple[requests.Session, str]
) -> None:
    session, base = graph
    assert session.post(base, json=body(sandbox, "same", name="first")).status_code == 201
    refused = session.post(base, json=body(sandbox, "same", name="second"))
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "Request_MultipleObjectsWithSameKeyValue"
    assert "'first'" in refused.json()["error"]["message"]


def test_the_doubled_slash_after_the_version_is_accepted(
    sandbox: Sandbox, graph: Tuple[requests.Session, str]
) -> None:
    session, base = graph
    doubled = base.replace("/v1.0/", "/v1.0//")
    assert session.post(doubled, json=body(sandbox, "sdk", name="sdk")).status_code == 201
    assert [f["name"] for f in session.get(doubled).json()["value"]] == ["sdk"]


def test_the_library_addresses_fics_by_name_key(
    sandbox: Sandbox, graph: Tuple[requests.Session, str]
) -> None:
    admin = sandbox.register_app(subject="admin2", graph_roles=["Application.ReadWrite.All"])
    app = sandbox.register_app(subject=None, tenant_id=admin.tenant_id)
    with sandbox_fics(sandbox, admin, "admin2", app.client_id) as fics:
        fics.create(FederatedIdentityCredential(name="named", issuer=sandbox.issuer, subject="s"))
        assert fics.get("named").subject == "s"
        fics.delete("named")
    paths = [r.path for r in sandbox.recorded("graph") if r.method in ("GET", "DELETE") and "named" in r.path]
    assert paths and all(p.endswith("federatedIdentityCredentials(name='named')") for p in paths), paths
