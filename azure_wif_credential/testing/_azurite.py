"""Run the Azurite blob emulator over HTTPS with OAuth checks, for tests and the demo.

Used by the tests and by ``azure-wif-credential demo``. Usage::

    with Azurite() as azurite:
        BlobServiceClient(azurite.account_url, credential=..., connection_verify=azurite.ca_file)

Azurite's ``--oauth basic`` mode accepts a bearer token when its ``iss`` starts with
``https://sts.windows.net/``, its ``aud`` is a storage audience and it is inside ``nbf``..``exp``; it
does not verify the signature. Bearer tokens are only accepted over HTTPS, hence the generated
certificate from the sandbox's PKI: a throw-away CA (``ca_file``) that signed a server certificate for
127.0.0.1 and localhost.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from .sandbox._pki import TlsFiles, write_tls_files

__all__ = [
    "ACCOUNT_NAME",
    "AZURITE_VARIABLE",
    "Azurite",
    "AzuriteError",
    "azurite_executable",
    "find_azurite",
]

ACCOUNT_NAME = "devstoreaccount1"
"""Azurite's built-in storage account; the first path segment of ``account_url``."""

_HOST = "127.0.0.1"
_EXECUTABLE_NAMES = ("azurite-blob.cmd", "azurite-blob") if os.name == "nt" else ("azurite-blob",)
_PORT_ATTEMPTS = 3  # a free port found by binding to 0 can be taken before Azurite binds it
_STDERR_EXCERPT_CHARS = 2000


class AzuriteError(RuntimeError):
    """Azurite is not installed, or did not come up."""


#: Names a specific ``azurite-blob`` to use (it wins over every other place).
AZURITE_VARIABLE = "AZURE_WIF_AZURITE"


def azurite_executable() -> str | None:
    """Path of ``azurite-blob``, or None when Azurite (or Node.js, which runs it) is not installed."""
    found = find_azurite()
    return found[0] if found else None


def find_azurite() -> tuple[str, str] | None:
    """``(path, where it was found)`` of ``azurite-blob``, or None.

    Looks at ``$AZURE_WIF_AZURITE``, then ``node_modules/.bin`` of the repository this package was
    installed from (where ``npm ci`` puts it, also for an editable install used from another
    directory), then of the current directory and its parents (as ``npx`` does), then on PATH.
    """
    if shutil.which("node") is None:
        return None
    explicit = os.environ.get(AZURITE_VARIABLE)
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit, f"${AZURITE_VARIABLE}"
        return None
    package = Path(__file__).resolve().parent.parent
    for root, where in [
        *((p, "the repository's node_modules") for p in [package.parent]),
        *(
            (p, "node_modules above the current directory")
            for p in [Path.cwd().resolve(), *Path.cwd().resolve().parents]
        ),
    ]:
        for name in _EXECUTABLE_NAMES:
            candidate = root / "node_modules" / ".bin" / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate), where
    for name in _EXECUTABLE_NAMES:
        found = shutil.which(name)
        if found is not None:
            return found, "PATH"
    return None


class Azurite:
    """One Azurite blob service on 127.0.0.1: HTTPS, ``--oauth basic``, in memory, on a free port.

    ``start()`` returns once the port completes a TLS handshake that verifies against ``ca_file``
    (bounded by ``startup_timeout``); ``stop()`` terminates the process (killing it after
    ``stop_grace`` seconds) and removes the certificates and workspace. Both are idempotent.
    """

    def __init__(
        self,
        *,
        executable: str | None = None,
        port: int | None = None,
        startup_timeout: float = 30.0,
        stop_grace: float = 3.0,
    ) -> None:
        """``executable`` defaults to :func:`azurite_executable`; ``port`` to a free one."""
        self._executable = executable
        self._requested_port = port
        self._startup_timeout = startup_timeout
        self._stop_grace = stop_grace
        self._process: subprocess.Popen[bytes] | None = None
        self._logs: list[IO[bytes]] = []
        self._directory: Path | None = None
        self._tls: TlsFiles | None = None
        self._port: int | None = None

    # -- public surface ---------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return _HOST

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("Azurite is not running: call start() or use it as a context manager")
        return self._port

    @property
    def account_url(self) -> str:
        """``https://127.0.0.1:PORT/devstoreaccount1``: pass it to ``BlobServiceClient``."""
        return f"https://{_HOST}:{self.port}/{ACCOUNT_NAME}"

    @property
    def blob_url(self) -> str:
        """The blob service's URL (the same as :attr:`account_url`)."""
        return self.account_url

    @property
    def ca_file(self) -> str:
        """PEM file of the CA that signed Azurite's certificate: pass it as ``connection_verify``."""
        if self._tls is None:
            raise RuntimeError("Azurite is not running: call start() or use it as a context manager")
        return self._tls.ca_file

    def start(self) -> Azurite:
        """Start Azurite and wait until it serves HTTPS. Raises AzuriteError if it does not."""
        if self._process is not None:
            raise RuntimeError("Azurite is already running")
        executable = self._executable or azurite_executable()
        if executable is None:
            raise AzuriteError(
                "Azurite is not installed: run `npm ci` in the repository (needs Node.js 18+), "
                "or put azurite-blob on PATH"
            )
        self._directory = Path(tempfile.mkdtemp(prefix="azurite-"))
        try:
            self._tls = tls = write_tls_files(str(self._directory), host=_HOST)
            cert_file, key_file = Path(tls.cert_file), Path(tls.key_file)
            for attempt in range(1, _PORT_ATTEMPTS + 1):
                port = self._requested_port or _free_port()
                self._launch(executable, port, cert_file, key_file)
                try:
                    self._wait_until_serving(port)
                except _PortTaken:
                    self._terminate()
                    if self._requested_port is not None or attempt == _PORT_ATTEMPTS:
                        raise AzuriteError(
                            f"Azurite could not listen on {_HOST}:{port}: the port is in use"
                        ) from None
                    continue
                self._port = port
                return self
        except BaseException:
            self.stop()
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """Stop Azurite (SIGTERM, then SIGKILL after the grace period) and remove its files."""
        self._terminate()
        self._port = None
        directory, self._directory, self._tls = self._directory, None, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.account_url if self._port is not None else "not running"
        return f"Azurite({where})"

    # -- process handling -------------------------------------------------------------------------

    def _launch(self, executable: str, port: int, cert_file: Path, key_file: Path) -> None:
        assert self._directory is not None
        workspace = self._directory / "workspace"
        workspace.mkdir(exist_ok=True)
        command = [
            executable,
            "--blobHost", _HOST,
            "--blobPort", str(port),
            "--cert", str(cert_file),
            "--key", str(key_file),
            "--oauth", "basic",
            "--inMemoryPersistence",
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--silent",
        ]  # fmt: skip
        # Azurite refuses --location together with --inMemoryPersistence; its workspace defaults to
        # the working directory, so a temporary one keeps anything it might write out of the caller's.
        # Output goes to files, not pipes: nobody reads a pipe while Azurite runs, and a full pipe
        # would block it.
        stdout = open(self._directory / f"stdout-{port}.log", "w+b")  # noqa: SIM115 - closed in _terminate
        stderr = open(self._directory / f"stderr-{port}.log", "w+b")  # noqa: SIM115 - closed in _terminate
        self._logs = [stdout, stderr]
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            cwd=workspace,
            # Its own session: a Ctrl-C meant for the caller doesn't reach Azurite half-way through.
            start_new_session=os.name != "nt",
        )

    def _wait_until_serving(self, port: int) -> None:
        assert self._process is not None
        context = ssl.create_default_context(cafile=self.ca_file)
        deadline = time.monotonic() + self._startup_timeout
        last_error: OSError | None = None
        while True:
            returncode = self._process.poll()
            if returncode is not None:
                output = self._output_excerpt()
                if "EADDRINUSE" in output:
                    raise _PortTaken()
                raise AzuriteError(
                    f"Azurite exited with code {returncode} before serving on {_HOST}:{port}.\n{output}"
                )
            try:
                _tls_handshake(port, context)
                return
            except OSError as error:  # includes ssl.SSLError: not listening yet, or not TLS yet
                last_error = error
            if time.monotonic() >= deadline:
                output = self._output_excerpt()
                raise AzuriteError(
                    f"Azurite did not accept TLS connections on {_HOST}:{port} within "
                    f"{self._startup_timeout:g} s (last error: {last_error}); it was stopped.\n{output}"
                )
            time.sleep(0.1)

    def _output_excerpt(self) -> str:
        parts = []
        for log in self._logs:
            log.flush()
            log.seek(0)
            text = log.read().decode("utf-8", "replace").strip()
            if text:
                name = Path(log.name).name.split("-")[0]
                parts.append(f"Azurite {name}:\n{text[-_STDERR_EXCERPT_CHARS:]}")
        return "\n".join(parts) or "Azurite wrote nothing to stdout or stderr."

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=self._stop_grace)
            except subprocess.TimeoutExpired:
                process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL can't be ignored
                    process.wait(timeout=self._stop_grace)
        logs, self._logs = self._logs, []
        for log in logs:
            log.close()


class _PortTaken(Exception):
    """Another process bound the port between our probe and Azurite's listen()."""


def _tls_handshake(port: int, context: ssl.SSLContext) -> None:
    sock = socket.create_connection((_HOST, port), timeout=1.0)
    with sock, context.wrap_socket(sock, server_hostname=_HOST):
        pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((_HOST, 0))
        port: int = probe.getsockname()[1]
        return port
