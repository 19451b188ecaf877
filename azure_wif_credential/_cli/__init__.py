"""``azure-wif-credential`` / ``python -m azure_wif_credential``: a thin command line over the library."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, Dict, List, Optional

from .._version import VERSION
from ._output import EscapingStream

COMMANDS: Dict[str, str] = {
    "demo": "the whole flow on the embedded, offline Entra sandbox (and Azurite, when installed)",
    "sandbox": "run the local Entra sandbox in the foreground and print the exports that point a workload at it",
    "token": "get a token with FederatedTokenCredential.from_environment() and show its expiry and claims",
    "assertion": "show the claims of the assertion the environment provides (--show prints it)",
    "trust": "list, create and delete an app's federated identity credentials through Microsoft Graph",
    "doctor": "check this workload's federation setup step by step and say what to fix",
}


def _runner(command: str) -> Callable[[List[str]], int]:
    if command == "demo":
        from ._demo import run as run_demo

        return run_demo
    if command == "sandbox":
        from ._sandbox import run as run_sandbox

        return run_sandbox
    if command == "trust":
        from ._trust import run as run_trust

        return run_trust
    if command == "doctor":
        from ._doctor import run as run_doctor

        return run_doctor
    from . import _token

    return _token.run if command == "token" else _token.run_assertion


def main(argv: Optional[List[str]] = None) -> int:
    """Run a command. Whatever goes wrong is one clear line on stderr and a non-zero exit, never a
    traceback; a closed stdout (``| head``) ends the command quietly; control characters in any text
    shown are escaped."""
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = EscapingStream(stdout), EscapingStream(stderr)
    try:
        code = _main(argv)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        _silence(stdout)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # the last resort: a bug of ours, or an input nothing checked
        from .._redact import error_text

        kind = "error" if isinstance(error, (ValueError, TypeError, OSError)) else type(error).__name__
        try:
            print(f"azure-wif-credential: {kind}: {error_text(error, limit=500)}", file=sys.stderr)
        except BrokenPipeError:
            _silence(stderr)
        return 2 if isinstance(error, (ValueError, TypeError)) else 1
    finally:
        sys.stdout, sys.stderr = stdout, stderr


def _silence(stream: Any) -> None:
    """Point a broken stream's descriptor at /dev/null, so the interpreter's final flush is quiet too
    (as the Python documentation recommends for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _main(argv: Optional[List[str]]) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="azure-wif-credential",
        description="Microsoft Entra workload identity federation, without secrets. "
        "Run 'azure-wif-credential COMMAND --help' for a command's options.",
        epilog="commands:\n" + "\n".join(f"  {name:<10} {text}" for name, text in COMMANDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"azure-wif-credential {VERSION}")
    parser.add_argument("command", choices=list(COMMANDS), metavar="COMMAND", help=", ".join(COMMANDS))
    if not args or args[0] in ("-h", "--help", "--version"):
        if not args:
            parser.print_help()
            return 2
        parser.parse_args(args)  # prints help or the version, and exits
        return 0
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        parser.parse_args(args)  # prints the usage error
        return 2
    return _runner(command)(rest)
