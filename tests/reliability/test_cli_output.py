"""The command line never shows a traceback: an invalid environment is one clear line on stderr and a
non-zero exit; a closed stdout ends a command quietly; text from Graph or tokens is shown with its
control characters escaped. Run as users run it: a subprocess, with the environment as given."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Union

import pytest
from helpers import sandbox_credential, sandbox_fics

from azure_wif_credential._cli import main
from azure_wif_credential.sandbox import Sandbox
from azure_wif_credential.trust import FederatedIdentityCredential

GUID = "00000000-0000-0000-0000-0000000000aa"
BAD_ENVIRONMENTS: Dict[str, Dict[str, Union[str, bytes]]] = {
    "a tenant with a path": {"AZURE_TENANT_ID": "contoso/../evil"},
    "an http authority": {"AZURE_AUTHORITY_HOST": "http://login.example"},
    "a backslash authority": {"AZURE_AUTHORITY_HOST": "https://ab\\ab\\"},
    "a non-UTF-8 client id": {"AZURE_CLIENT_ID": b"client-\xff\xfe"},
    "a bad allowed tenant": {"AZURE_ADDITIONALLY_ALLOWED_TENANTS": "ok-tenant;../x;\x1b[2J"},
    "a control character in the tenant": {"AZURE_TENANT_ID": "tenant\x1b]0;pwned\x07"},
}
COMMANDS = {
    "token": ["token"],
    "trust list": ["trust", "list", "--app", GUID, "--graph-endpoint", "https://127.0.0.1:9/graph"],
    "doctor": ["doctor"],
}


def _cli(args: List[str], env: Any, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "azure_wif_credential", *args],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
        **kwargs,
    )


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", list(BAD_ENVIRONMENTS))
def test_an_invalid_environment_is_one_clear_line_never_a_traceback(
    case: str, command: str, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
    env: Dict[str, Any] = {
        k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "GITHUB_", "SYSTEM_", "ACTIONS_"))
    }
    env.update(
        {"AZURE_TENANT_ID": "tenant", "AZURE_CLIENT_ID": GUID, "AZURE_FEDERATED_TOKEN_FILE": str(token_file)}
    )
    env.update(BAD_ENVIRONMENTS[case])
    done = _cli(COMMANDS[command], {os.fsencode(k): os.fsencode(v) for k, v in env.items()})
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode != 0, stderr
    assert "Traceback" not in stderr, stderr
    assert stderr.strip(), "it says what is wrong"
    assert b"\x1b" not in done.stdout + done.stderr and b"\x07" not in done.stdout + done.stderr


@pytest.mark.parametrize("args", [["--help"], ["token", "--help"], ["trust", "--help"], ["doctor", "--help"]])
def test_a_closed_stdout_ends_the_command_quietly(args: List[str]) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "azure_wif_credential", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # `| head -c0`: nobody reads what it prints
    stderr = process.stderr.read()
    process.wait(60)
    process.stderr.close()
    assert b"Traceback" not in stderr and b"BrokenPipe" not in stderr, stderr


def test_control_characters_from_graph_are_escaped_in_trust_list(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = sandbox.register_app(subject="admin", graph_roles=["Application.ReadWrite.All"])
    target = sandbox.register_app(subject=None, tenant_id=admin.tenant_id)
    hostile = "repo:x\x1b[2J\x1b]0;pwned\x07\r\u202eevil\x9b31m"
    with sandbox_fics(sandbox, admin, "admin", target.client_id) as fics:
        fics.create(FederatedIdentityCredential(name="hostile", issuer=sandbox.issuer, subject=hostile))
    with sandbox_credential(sandbox, admin, "admin") as credential:
        token = credential.get_token(f"{sandbox.graph_endpoint}/.default").token
    monkeypatch.setenv("AZURE_TENANT_ID", admin.tenant_id)
    monkeypatch.setenv("AZURE_CLIENT_ID", admin.client_id)
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", sandbox.authority)
    path = Path(sandbox.ca_file).parent / "admin-token"
    path.write_text(sandbox.issue_assertion(subject="admin"))
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(path))
    args = ["trust", "list", "--app", target.client_id, "--graph-endpoint", sandbox.graph_endpoint]
    assert main([*args, "--ca-file", sandbox.ca_file]) == 0
    out = capsys.readouterr().out
    assert "hostile" in out and "\\x1b[2J" in out
    for raw in ("\x1b", "\x07", "\r", "\u202e", "\x9b"):
        assert raw not in out
    assert token not in out
