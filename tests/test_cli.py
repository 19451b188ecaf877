"""The command line: ``azure-wif-credential token`` shows claims, and the token only when asked."""

from __future__ import annotations

import json
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


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from azure_wif_credential import __version__

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"azure-wif-credential {__version__}"


@pytest.mark.parametrize("command", ["demo", "sandbox", "token", "assertion"])
def test_every_command_has_help_with_a_description(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        status = main([command, "--help"])
    except SystemExit as exited:
        status = exited.code if isinstance(exited.code, int) else 2
    assert status == 0
    text = capsys.readouterr().out
    assert text.count("\n") > 5 and "usage:" in text
    description = text.split("\n\n")[1]
    assert len(description.split()) > 8, description
    if command == "token":
        assert "(default: https://management.azure.com/.default)" in " ".join(text.split())


def test_token_json_has_expiry_and_claims_and_the_token_only_when_asked(
    sandbox: Sandbox, environment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "--json", "--ca-file", sandbox.ca_file]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["claims"]["appid"] == environment
    assert document["refresh_on"] < document["expires_on"]
    assert "token" not in document
    assert main(["token", "--json", "--show-token", "--ca-file", sandbox.ca_file]) == 0
    assert sandbox.verify_access_token(json.loads(capsys.readouterr().out)["token"])


def test_assertion_shows_claims_and_prints_only_the_assertion_with_show(
    sandbox: Sandbox, environment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["assertion"]) == 0
    out = capsys.readouterr().out
    assert f'"sub": "{SUBJECT}"' in out and "source: token file" in out
    assert "eyJ" not in out
    assert main(["assertion", "--show"]) == 0
    shown = capsys.readouterr().out
    assert shown.count("\n") == 1 and shown.startswith("eyJ")
    assert main(["assertion", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["claims"]["sub"] == SUBJECT


def test_help_of_the_assertions_module_lists_every_source_with_its_docstring() -> None:
    import pydoc

    import azure_wif_credential.assertions as assertions

    text = pydoc.plain(pydoc.render_doc(assertions))
    for name in assertions.__all__:
        assert name in dir(assertions)
        value = getattr(assertions, name)
        if isinstance(value, type):
            assert f"class {name}" in text, name
            assert value.__doc__ and value.__doc__.split("\n")[0].strip() in text


def test_get_token_and_get_token_info_are_documented_in_both_credentials() -> None:
    from azure_wif_credential import FederatedTokenCredential
    from azure_wif_credential.aio import FederatedTokenCredential as AioFederatedTokenCredential

    for credential in (FederatedTokenCredential, AioFederatedTokenCredential):
        for method in (credential.get_token, credential.get_token_info):
            doc = method.__doc__ or ""
            assert ":param str scopes:" in doc and ":return:" in doc and ":raises" in doc, method
