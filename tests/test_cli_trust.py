"""The command line's ``trust`` and ``doctor``, against the sandbox's Graph and STS. Where the CLI falls
back to azure-identity's AzureCliCredential, a stand-in ``az`` on PATH answers
``az account get-access-token`` with a Graph token the sandbox issued to an admin app."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from helpers import pod_environment, sandbox_credential

from azure_wif_credential._cli import main
from azure_wif_credential.sandbox import Sandbox
from azure_wif_credential.trust import FederatedIdentityCredential, FederatedIdentityCredentials

SUBJECT = "system:serviceaccount:shop:checkout"
ADMIN = "system:serviceaccount:platform:admin"


@pytest.fixture
def admin(sandbox: Sandbox) -> Any:
    return sandbox.register_app(subject=ADMIN, graph_roles=["Application.ReadWrite.All"])


@pytest.fixture
def fake_az(sandbox: Sandbox, admin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``az`` answering get-access-token with the admin app's Graph token (azure-identity runs it)."""
    with sandbox_credential(sandbox, admin, ADMIN) as credential:
        token = credential.get_token(f"{sandbox.graph_endpoint}/.default")
    answer = tmp_path / "az-answer.json"
    answer.write_text(
        json.dumps({"accessToken": token.token, "expires_on": token.expires_on, "tokenType": "Bearer"})
    )
    script = tmp_path / "bin" / "az"
    script.parent.mkdir()
    script.write_text(f"#!{sys.executable}\nimport sys\nprint(open({str(answer)!r}).read())\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    return script


@pytest.fixture
def workload(sandbox: Sandbox, admin: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Dict[str, Any]:
    """A pod's environment for an app in the admin's tenant that trusts nothing yet."""
    app = sandbox.register_app(subject=None, tenant_id=admin.tenant_id)
    token_file = tmp_path / "token"
    pod_environment(
        monkeypatch,
        sandbox,
        app,
        token_file,
        subject=SUBJECT,
        AZURE_AUTHORITY_HOST=sandbox.authority,
        AZURE_WIF_CA_FILE=sandbox.ca_file,
        AZURE_WIF_GRAPH_ENDPOINT=sandbox.graph_endpoint,
    )
    return {"app": app, "token_file": token_file}


def fics_of(sandbox: Sandbox, admin: Any, app: Any) -> FederatedIdentityCredentials:
    return FederatedIdentityCredentials(
        sandbox_credential(sandbox, admin, ADMIN),
        application=app.client_id,
        graph_endpoint=sandbox.graph_endpoint,
        connection_verify=sandbox.ca_file,
    )


def run(args: List[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(args)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_trust_create_list_delete_with_the_cli(
    sandbox: Sandbox,
    admin: Any,
    fake_az: Path,
    workload: Dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = workload["app"]
    monkeypatch.delenv("AZURE_FEDERATED_TOKEN_FILE")  # no federated credential here: the CLI falls back to az
    status, out, err = run(
        [
            "trust",
            "create",
            "kubernetes",
            "--app",
            app.client_id,
            "--issuer",
            sandbox.issuer,
            "--namespace",
            "shop",
            "--service-account",
            "checkout",
        ],
        capsys,
    )
    assert status == 0, err
    assert "AzureCliCredential" in err and "created kubernetes-shop-checkout" in out
    status, out, _ = run(
        [
            "trust",
            "create",
            "github",
            "--app",
            app.client_id,
            "--repo",
            "contoso/shop",
            "--environment",
            "prod",
            "--json",
        ],
        capsys,
    )
    assert status == 0 and json.loads(out)["subject"] == "repo:contoso/shop:environment:prod"
    status, out, _ = run(["trust", "list", "--app", app.client_id, "--json"], capsys)
    assert sorted(f["name"] for f in json.loads(out)) == [
        "github-contoso-shop-environment-prod",
        "kubernetes-shop-checkout",
    ]
    status, out, _ = run(
        ["trust", "delete", "--app", app.client_id, "--name", "kubernetes-shop-checkout"], capsys
    )
    assert status == 0 and "deleted" in out
    status, out, _ = run(["trust", "list", "--app", app.client_id], capsys)
    assert "kubernetes-shop-checkout" not in out and "github-contoso-shop-environment-prod" in out
    status, _, err = run(
        ["trust", "create", "custom", "--app", app.client_id, "--issuer", "http://x", "--subject", "s"],
        capsys,
    )
    assert status == 1 and "https URL" in err


def test_trust_authenticates_with_the_environments_federated_credential_when_there_is_one(
    sandbox: Sandbox,
    admin: Any,
    workload: Dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    admin_token = tmp_path / "admin-token"
    admin_token.write_text(sandbox.issue_assertion(subject=ADMIN))
    monkeypatch.setenv("AZURE_CLIENT_ID", admin.client_id)
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(admin_token))
    status, out, err = run(["trust", "list", "--app", workload["app"].client_id], capsys)
    assert status == 0, err
    assert "FederatedTokenCredential.from_environment()" in err and "no federated identity credentials" in out


def doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, Dict[str, Any], str]:
    status, out, err = run(["doctor", "--json", "--scope", "https://storage.azure.com/.default"], capsys)
    return status, json.loads(out), out + err


def check(report: Dict[str, Any], name: str) -> Dict[str, Any]:
    return next(c for c in report["checks"] if c["name"] == name)


def test_doctor_passes_a_healthy_setup(
    sandbox: Sandbox, admin: Any, workload: Dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    with fics_of(sandbox, admin, workload["app"]) as fics:
        fics.create(FederatedIdentityCredential(name="checkout", issuer=sandbox.issuer, subject=SUBJECT))
    status, report, text = doctor(capsys)
    assert status == 0 and report["ok"] is True
    assert [c["status"] for c in report["checks"]] == ["ok", "ok", "ok", "ok"]
    assert "eyJ" not in text, "never the assertion or the token"


@pytest.mark.parametrize(
    ("broken", "field", "words"),
    [
        ("wrong-issuer", "issuer", "issuer DIFFERS"),
        ("trailing-slash", "issuer", "DIFFERS by a trailing slash"),
        ("subject-case", "subject", "DIFFERS in case"),
    ],
)
def test_doctor_marks_the_field_that_differs_and_gives_the_command(
    sandbox: Sandbox,
    admin: Any,
    fake_az: Path,
    workload: Dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    broken: str,
    field: str,
    words: str,
) -> None:
    issuer = {"wrong-issuer": sandbox.github_issuer, "trailing-slash": sandbox.issuer + "/"}.get(
        broken, sandbox.issuer
    )
    subject = SUBJECT.upper() if broken == "subject-case" else SUBJECT
    with (
        fics_of(sandbox, admin, workload["app"]) as fics,
        pytest.warns() if broken == "trailing-slash" else _nothing(),
    ):
        fics.create(FederatedIdentityCredential(name="checkout", issuer=issuer, subject=subject))
    status, report, text = doctor(capsys)
    assert status == 1 and report["ok"] is False
    code = {"issuer": "AADSTS700211", "subject": "AADSTS700213"}[field]
    assert check(report, "exchange")["status"] == "fail" and code in check(report, "exchange")["detail"]
    comparison = check(report, "federated credentials")
    assert words in comparison["detail"]
    assert "azure-wif-credential trust create custom" in comparison["fix"] and SUBJECT in comparison["fix"]
    assert "eyJ" not in text


@pytest.mark.parametrize("broken", ["wrong-audience", "expired", "clock-skew", "unreachable-issuer"])
def test_doctor_explains_a_broken_assertion_or_issuer(
    sandbox: Sandbox, admin: Any, workload: Dict[str, Any], capsys: pytest.CaptureFixture[str], broken: str
) -> None:
    import time

    now = int(time.time())
    cases: Dict[str, Dict[str, Any]] = {
        "wrong-audience": {"audience": "api://something-else"},
        "expired": {"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600},
        "clock-skew": {"iat": now + 900, "nbf": now + 900, "exp": now + 1800},
        "unreachable-issuer": {"iss": "https://127.0.0.1:9/closed"},
    }
    claims = cases[broken]
    workload["token_file"].write_text(sandbox.issue_assertion(subject=SUBJECT, **claims))
    status, report, text = doctor(capsys)
    assert status == 1
    failing = {c["name"]: c for c in report["checks"] if c["status"] == "fail"}
    expected = "issuer" if broken == "unreachable-issuer" else "assertion"
    words = {
        "wrong-audience": "aud is not",
        "expired": "expired",
        "clock-skew": "clock skew",
        "unreachable-issuer": "not reachable",
    }[broken]
    assert words in failing[expected]["detail"] and failing[expected]["fix"]
    assert "eyJ" not in text


def test_doctor_without_an_environment_says_what_is_missing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    status, report, _ = doctor(capsys)
    assert status == 1 and check(report, "environment")["status"] == "fail"
    assert "AZURE_TENANT_ID is not set" in check(report, "environment")["detail"]
    assert [c["status"] for c in report["checks"][1:]] == ["skip", "skip", "skip"]


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: Optional[Any]) -> None:
        return None


@pytest.mark.parametrize(
    ("case", "body", "words"),
    [
        ("keys null", b'{"keys": null}', "not a list"),
        ("keys a number", b'{"keys": 5}', "not a list"),
        ("keys a string", b'{"keys": "abc"}', "not a list"),
        ("a JSON array", b"[]", "has no key"),
        (
            "a key of the wrong type",
            b'{"keys": [{"kid": "%KID%", "kty": "EC", "crv": "P-256"}]}',
            "does not verify",
        ),
        (
            "a key that does not fit the alg",
            b'{"keys": [{"kid": "%KID%", "kty": "oct", "k": "c2VjcmV0"}]}',
            "does not verify",
        ),
        ("deeply nested", b'{"keys": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "not JSON"),
    ],
)
def test_doctor_explains_a_hostile_jwks_without_a_traceback(
    sandbox: Sandbox,
    admin: Any,
    workload: Dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    case: str,
    body: bytes,
    words: str,
) -> None:
    import jwt

    kid = jwt.get_unverified_header(workload["token_file"].read_text())["kid"]
    sandbox.answer_next(body=body.replace(b"%KID%", kid.encode()), endpoint="issuer-keys")
    status, report, text = doctor(capsys)
    assert status == 1 and "Traceback" not in text
    assert words in check(report, "issuer")["detail"], check(report, "issuer")
