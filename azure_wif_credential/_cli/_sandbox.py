"""``azure-wif-credential sandbox``: run the sandbox in the foreground with a kubelet-style token file."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import sys
import tempfile
import threading
from types import FrameType
from typing import Iterator, Sequence

from ..testing.sandbox._sandbox import DEFAULT_SUBJECT, Sandbox
from ..testing.sandbox._token_file import REFRESH_FRACTION, TokenFile

#: The subject of the sandbox's trust-managing app (its own token file).
TRUST_ADMIN_SUBJECT = "system:serviceaccount:platform:trust-admin"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="azure-wif-credential sandbox",
        description=(
            "Run a local, HTTPS, Entra-compatible token service and OIDC issuer in the foreground. It "
            "registers an app that trusts the issuer, keeps a token file fresh the way kubelet does, and "
            "prints the environment variables that point a workload at it. Stop it with Ctrl-C."
        ),
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument(
        "--token-file",
        metavar="PATH",
        help="where to keep the assertion (default: a file in a temporary directory)",
    )
    parser.add_argument(
        "--env-file",
        metavar="PATH",
        help="also write the export lines to PATH (0600) once the sandbox is ready, for `. PATH` in a shell",
    )
    parser.add_argument(
        "--subject",
        default=DEFAULT_SUBJECT,
        help=f"subject of the assertions and of the app's federated credential (default: {DEFAULT_SUBJECT})",
    )
    parser.add_argument(
        "--token-lifetime",
        type=int,
        default=3600,
        metavar="SECONDS",
        help="access token lifetime (default: 3600)",
    )
    parser.add_argument(
        "--assertion-lifetime",
        type=int,
        default=3600,
        metavar="SECONDS",
        help=f"lifetime of each assertion in the token file; it is rewritten at {REFRESH_FRACTION * 100:.0f}%% of it "
        "(default: 3600)",
    )
    return parser


def run(argv: Sequence[str]) -> int:
    """Run the sandbox until Ctrl-C or SIGTERM; returns the exit status."""
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    if args.assertion_lifetime <= 0 or args.token_lifetime <= 0:
        print("sandbox: lifetimes must be positive", file=sys.stderr)
        return 2
    stop = threading.Event()
    with contextlib.ExitStack() as stack:
        stack.enter_context(_stop_on_signals(stop))
        token_path = args.token_file
        if token_path is None:
            token_path = os.path.join(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="azure-wif-token-")), "token"
            )
        try:
            sandbox = stack.enter_context(Sandbox(token_lifetime=args.token_lifetime, port=args.port))
        except OSError as error:
            print(
                f"sandbox: cannot listen on 127.0.0.1:{args.port}: {error.strerror or error}", file=sys.stderr
            )
            return 1
        app = sandbox.register_app(subject=args.subject)
        # The identity that manages trust (trust, doctor): another app of the tenant, allowed to manage
        # app registrations, with a token file of its own, so breaking the workload's FIC leaves it working.
        admin = sandbox.register_app(
            subject=TRUST_ADMIN_SUBJECT, tenant_id=app.tenant_id, graph_roles=["Application.ReadWrite.All"]
        )
        token_file = TokenFile(
            token_path,
            lambda: sandbox.issue_assertion(subject=args.subject, lifetime=args.assertion_lifetime),
            lifetime=args.assertion_lifetime,
        )
        admin_file = TokenFile(
            os.path.join(os.path.dirname(os.path.abspath(token_path)), "trust-admin-token"),
            lambda: sandbox.issue_assertion(subject=TRUST_ADMIN_SUBJECT, lifetime=args.assertion_lifetime),
            lifetime=args.assertion_lifetime,
        )
        token_file.write()
        admin_file.write()
        exports = _print_banner(
            sandbox, app.tenant_id, app.client_id, token_file, admin.client_id, admin_file
        )
        if args.env_file:
            _write_env_file(args.env_file, exports)
        keeper = threading.Thread(target=admin_file.keep_fresh, args=(stop,), daemon=True)
        keeper.start()
        token_file.keep_fresh(stop)
        keeper.join(5)
    print("Sandbox stopped.", flush=True)
    return 0


def _print_banner(
    sandbox: Sandbox,
    tenant_id: str,
    client_id: str,
    token_file: TokenFile,
    admin_id: str,
    admin_file: TokenFile,
) -> list[str]:
    """Print the banner; returns its export lines."""
    lines = [
        "Entra sandbox running. Press Ctrl-C to stop.",
        f"  authority:  {sandbox.authority}",
        f"  CA file:    {sandbox.ca_file}",
        f"  issuer:     {sandbox.issuer}",
        f"  tenant id:  {tenant_id}",
        f"  client id:  {client_id}",
        f"  token file: {token_file.path} (rewritten every {token_file.refresh_interval:g} s)",
        "",
        "# Point a workload at the sandbox (in another shell); the CLI (token, assertion) trusts",
        "# AZURE_WIF_CA_FILE; in code pass connection_verify=<CA file> (or set REQUESTS_CA_BUNDLE):",
        f"export AZURE_WIF_CA_FILE={shlex.quote(sandbox.ca_file)}",
        f"export AZURE_AUTHORITY_HOST={shlex.quote(sandbox.authority)}",
        f"export AZURE_TENANT_ID={shlex.quote(tenant_id)}",
        f"export AZURE_CLIENT_ID={shlex.quote(client_id)}",
        f"export AZURE_FEDERATED_TOKEN_FILE={shlex.quote(token_file.path)}",
        f"export AZURE_WIF_GRAPH_ENDPOINT={shlex.quote(sandbox.graph_endpoint)}",
        "# trust and doctor manage FICs as another app of the tenant (Application.ReadWrite.All), never as",
        "# the workload: in real life `az login`, or your own admin app's AZURE_WIF_GRAPH_* variables:",
        f"export AZURE_WIF_GRAPH_CLIENT_ID={shlex.quote(admin_id)}",
        f"export AZURE_WIF_GRAPH_TOKEN_FILE={shlex.quote(admin_file.path)}",
        f"export AZURE_WIF_SANDBOX_ISSUER={shlex.quote(sandbox.issuer)}",
    ]
    print("\n".join(lines), flush=True)
    return [line for line in lines if line.startswith("export ")]


def _write_env_file(path: str, exports: list[str]) -> None:
    """The export lines, written whole (a reader never sees half) and readable by this user only."""
    temporary = f"{path}.{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write("\n".join(exports) + "\n")
    os.replace(temporary, path)


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Turn SIGINT and SIGTERM into ``stop.set()`` (only the main thread can install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {number: signal.signal(number, handler) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def main() -> None:
    sys.exit(run(sys.argv[1:]))
