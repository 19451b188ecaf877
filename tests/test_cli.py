"""The command line: ``azure-wif-credential token`` shows claims, and the token only when asked."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from azure_wif_credential._cli import main
from azure_wif_credential.sandbox import Sandbox

SUBJECT = "system:serviceaccount:cli:tool"


@pytest.fixture
def environment(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> str:
    app = sandbox.register_app(subject=SUBJECT)
    path = tmp_path / "token"
    path.write_text(sandbox.issue_assertion(subject=SUBJECT))
    monkeypatch.setenv("AZURE_TENANT_ID", app.tenant_id)
    monkeypatch.setenv("AZURE_CLIENT_ID", app.client_id)
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(path))
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", sandbox.authority)
    return str(app.client_id)


def test_token_prints_the_claims_but_not_the_token(
    sandbox: Sandbox, environment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "--scope", "https://storage.azure.com/.default", "--ca-file", sandbox.ca_file]) == 0
    out = capsys.readouterr().out
    assert f'"appid": "{environment}"' in out
    assert "refresh_on:" in out
    assert "eyJ" not in out


def test_token_prints_the_token_when_asked(
    sandbox: Sandbox, environment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "--ca-file", sandbox.ca_file, "--show-token"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert sandbox.verify_access_token(last)["aud"] == "https://management.azure.com"


def test_token_explains_an_unavailable_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert main(["token"]) == 1
    assert "AZURE_TENANT_ID is not set" in capsys.readouterr().err


def test_module_entry_point_lists_the_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "azure_wif_credential", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    for verb in ("demo", "sandbox", "token"):
        assert verb in result.stdout
