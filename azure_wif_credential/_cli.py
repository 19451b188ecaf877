"""``azure-wif-credential`` / ``python -m azure_wif_credential``: a thin command line over the library."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="azure-wif-credential",
        description="Microsoft Entra workload identity federation, without secrets.",
    )
    parser.add_argument(
        "command",
        choices=["demo", "sandbox", "token"],
        help="demo: the whole flow on the embedded sandbox; sandbox: run the local Entra sandbox in the "
        "foreground; token: get a token with FederatedTokenCredential.from_environment() and show its claims",
    )
    if not args or args[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "demo":
        from ._demo import run as run_demo

        return run_demo(rest)
    if command == "sandbox":
        from .sandbox._cli import run as run_sandbox

        return run_sandbox(rest)
    if command == "token":
        from ._token_cli import run as run_token

        return run_token(rest)
    parser.parse_args(args)  # prints the usage error
    return 2
