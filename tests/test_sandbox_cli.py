"""``python -m azure_wif_credential sandbox``: a foreground sandbox with a kubelet-style token file."""

from __future__ import annotations

import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from azure.identity import ClientAssertionCredential

import azure_wif_credential

REPO_ROOT = Path(azure_wif_credential.__file__).resolve().parent.parent
STARTUP_DEADLINE = 60.0  # a guard against hanging, not a speed requirement


class SandboxProcess:
    """The CLI in a child process, with its output collected line by line."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "azure_wif_credential", "sandbox", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def read_banner(self) -> tuple[dict[str, str], dict[str, str]]:
        """The exported variables and the 'name: value' lines, once the last export line is out."""
        deadline = time.monotonic() + STARTUP_DEADLINE
        while not any(line.startswith("export AZURE_FEDERATED_TOKEN_FILE=") for line in self.output):
            try:
                self.output.append(self.lines.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(
                    f"no export lines from the sandbox CLI; output so far: {self.output}"
                ) from None
        exports = {}
        fields = {}
        for line in self.output:
            if line.startswith("export "):
                name, _, value = line[len("export ") :].partition("=")
                exports[name] = shlex.split(value)[0]
            elif line.startswith("  ") and ":" in line:
                name, _, value = line.strip().partition(":")
                fields[name] = value.strip()
        return exports, fields

    def stop(self, signum: int) -> int:
        self.process.send_signal(signum)
        return self.wait()

    def wait(self) -> int:
        """The exit status, once the process ended; all its output is then in ``output``."""
        code = self.process.wait(timeout=STARTUP_DEADLINE)
        self._reader.join(timeout=10)
        while not self.lines.empty():
            self.output.append(self.lines.get())
        return code

    def end(self) -> None:
        """Stop the process if it still runs (SIGTERM lets it clean up; SIGKILL only if it hangs)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def start_cli() -> Iterator[type[SandboxProcess]]:
    started: list[SandboxProcess] = []

    class Tracked(SandboxProcess):
        def __init__(self, *args: str) -> None:
            super().__init__(*args)
            started.append(self)

    yield Tracked
    for process in started:
        process.end()


def exchange(exports: dict[str, str], ca_file: str) -> dict[str, object]:
    """Trade the token file's assertion for an access token, as a workload would; return its claims."""

    def read_token_file() -> str:
        return Path(exports["AZURE_FEDERATED_TOKEN_FILE"]).read_text().strip()

    with ClientAssertionCredential(
        exports["AZURE_TENANT_ID"],
        exports["AZURE_CLIENT_ID"],
        read_token_file,
        authority=exports["AZURE_AUTHORITY_HOST"],
        connection_verify=ca_file,
    ) as credential:
        token = credential.get_token("https://storage.azure.com/.default").token
    claims: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return claims


def test_cli_prints_exports_keeps_a_valid_token_file_fresh_and_exits_0_on_ctrl_c(
    start_cli: type[SandboxProcess], tmp_path: Path
) -> None:
    token_file = tmp_path / "projected" / "token"
    cli = start_cli(
        "--token-file",
        str(token_file),
        "--assertion-lifetime",
        "2",
        "--subject",
        "system:serviceaccount:ci:app",
    )

    exports, fields = cli.read_banner()

    assert exports["AZURE_AUTHORITY_HOST"] == fields["authority"]
    assert exports["AZURE_AUTHORITY_HOST"].startswith("https://127.0.0.1:")
    assert exports["AZURE_TENANT_ID"] == fields["tenant id"]
    assert exports["AZURE_CLIENT_ID"] == fields["client id"]
    assert exports["AZURE_FEDERATED_TOKEN_FILE"] == str(token_file)
    assert exports["AZURE_WIF_CA_FILE"] == fields["CA file"]
    pasted = subprocess.run(  # the printed exports, as pasted, are all the token command needs
        [
            sys.executable,
            "-m",
            "azure_wif_credential",
            "token",
            "--json",
            "--scope",
            "https://storage.azure.com/.default",
        ],
        env={**os.environ, **exports},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert pasted.returncode == 0, pasted.stderr
    assert json.loads(pasted.stdout)["claims"]["appid"] == exports["AZURE_CLIENT_ID"]
    first = token_file.read_text()
    assert jwt.decode(first, options={"verify_signature": False})["sub"] == "system:serviceaccount:ci:app"
    claims = exchange(exports, fields["CA file"])
    assert (claims["tid"], claims["appid"]) == (exports["AZURE_TENANT_ID"], exports["AZURE_CLIENT_ID"])

    deadline = time.monotonic() + STARTUP_DEADLINE
    while token_file.read_text() == first:  # rewritten at 80% of the 2 s lifetime
        assert time.monotonic() < deadline, "the token file was never refreshed"
        time.sleep(0.1)
    assert exchange(exports, fields["CA file"])["appid"] == exports["AZURE_CLIENT_ID"]
    # no temporary files left behind: the workload's token file and the trust-managing identity's
    assert sorted(p.name for p in token_file.parent.iterdir()) == ["token", "trust-admin-token"]

    assert cli.stop(signal.SIGINT) == 0
    assert not Path(fields["CA file"]).exists()
    assert "Traceback" not in "\n".join(cli.output)


def test_cli_exits_0_on_sigterm_and_removes_its_default_token_file(start_cli: type[SandboxProcess]) -> None:
    cli = start_cli()
    exports, _ = cli.read_banner()
    token_file = Path(exports["AZURE_FEDERATED_TOKEN_FILE"])
    assert token_file.is_file()

    assert cli.stop(signal.SIGTERM) == 0
    assert not token_file.exists()
    assert cli.output[-1] == "Sandbox stopped."


def test_cli_reports_a_port_it_cannot_listen_on(start_cli: type[SandboxProcess]) -> None:
    first = start_cli()
    exports, _ = first.read_banner()
    port = exports["AZURE_AUTHORITY_HOST"].rsplit(":", 1)[1]

    second = start_cli("--port", port)

    assert second.wait() == 1
    assert f"cannot listen on 127.0.0.1:{port}" in "\n".join(second.output)
