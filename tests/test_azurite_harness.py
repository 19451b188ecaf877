"""The Azurite harness (azure_wif_credential/testing/_azurite.py) starts, fails and stops cleanly: nothing hangs or lingers."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from azure_wif_credential.testing import Azurite, AzuriteError, azurite_executable

posix_only = pytest.mark.skipif(os.name == "nt", reason="the fake Azurite is a script with a shebang line")


def _fake_azurite(tmp_path: Path, body: str) -> str:
    """An executable that stands in for azurite-blob; it records its pid in tmp_path/pid."""
    script = tmp_path / "fake-azurite-blob"
    script.write_text(
        f"#!{sys.executable}\n"
        "import os, sys, time\n"
        f"open({str(tmp_path / 'pid')!r}, 'w').write(str(os.getpid()))\n"
        f"{body}\n"
    )
    script.chmod(0o755)
    return str(script)


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_executable_is_not_found_without_node_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    assert azurite_executable() is None


@posix_only
def test_azurite_that_exits_at_start_is_reported_with_its_stderr(tmp_path: Path) -> None:
    executable = _fake_azurite(tmp_path, "print('no storage for you', file=sys.stderr); sys.exit(3)")

    with pytest.raises(AzuriteError, match=r"(?s)exited with code 3.*no storage for you"):
        Azurite(executable=executable).start()


@posix_only
def test_azurite_that_never_serves_tls_is_killed_and_reported(tmp_path: Path) -> None:
    executable = _fake_azurite(
        tmp_path,
        f"open({str(tmp_path / 'cwd')!r}, 'w').write(os.getcwd())\n"
        "print('stuck', file=sys.stderr, flush=True)\n"
        "time.sleep(600)",
    )

    with pytest.raises(AzuriteError, match=r"(?s)did not accept TLS connections.*stuck"):
        Azurite(executable=executable, startup_timeout=1.0).start()

    assert not _is_running(int((tmp_path / "pid").read_text()))
    assert not Path((tmp_path / "cwd").read_text()).exists()  # its temporary workspace is gone


@pytest.mark.azurite
def test_stop_ends_the_process_and_removes_the_certificates(azurite: Azurite) -> None:
    # A second instance of our own; the session's `azurite` only decides skip-or-fail when not installed.
    server = Azurite().start()
    process = server._process
    ca_file = Path(server.ca_file)
    assert process is not None
    assert ca_file.exists()
    assert server.account_url == f"https://127.0.0.1:{server.port}/devstoreaccount1"
    assert server.port != azurite.port

    server.stop()
    server.stop()  # idempotent

    assert process.returncode is not None
    assert not ca_file.parent.exists()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.account_url


@pytest.mark.azurite
def test_requested_port_in_use_is_reported(azurite: Azurite) -> None:
    with pytest.raises(AzuriteError, match="in use"):
        Azurite(port=azurite.port).start()


def test_azurite_is_found_from_the_repository_whatever_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure_wif_credential.testing import find_azurite

    here = find_azurite()
    if here is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Azurite is not installed (README's test command installs it)")
        pytest.skip("Azurite is not installed")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AZURE_WIF_AZURITE", raising=False)
    found = find_azurite()
    assert found is not None and found[1] == "the repository's node_modules"


@posix_only
def test_the_environment_variable_names_the_azurite_to_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure_wif_credential.testing import find_azurite

    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed")
    executable = _fake_azurite(tmp_path, "pass")
    monkeypatch.setenv("AZURE_WIF_AZURITE", executable)
    assert find_azurite() == (executable, "$AZURE_WIF_AZURITE")
