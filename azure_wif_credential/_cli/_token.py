"""``azure-wif-credential token`` and ``assertion``: what the environment's credential obtains, claims
shown, the secret itself only on request."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List

from azure.core.exceptions import ClientAuthenticationError

from .._claims import format_time as when
from .._claims import unverified_claims
from .._credential import FederatedTokenCredential
from .._environment import CA_FILE

#: The CA bundle the CLI trusts by default (``azure-wif-credential sandbox`` prints it as an export).
CA_FILE_VARIABLE = CA_FILE


def common_options(
    parser: argparse.ArgumentParser, endpoints: str = "the authority and CI endpoints"
) -> None:
    """``--ca-file`` (default ``$AZURE_WIF_CA_FILE``) and ``--json``, as every command takes them."""
    parser.add_argument(
        "--ca-file",
        default=os.environ.get(CA_FILE_VARIABLE),
        help=f"CA bundle to trust for {endpoints} (connection_verify); default ${CA_FILE_VARIABLE}",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _options(args: argparse.Namespace) -> Dict[str, Any]:
    return {"connection_verify": args.ca_file} if args.ca_file else {}


def run(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="azure-wif-credential token",
        description="Get an access token with FederatedTokenCredential.from_environment() (AZURE_TENANT_ID, "
        "AZURE_CLIENT_ID, AZURE_AUTHORITY_HOST and the detected assertion source) and show its expiry and "
        "claims. The token itself is printed only with --show-token.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--scope", default="https://management.azure.com/.default", help="scope to request")
    parser.add_argument(
        "--tenant",
        default=None,
        help="another tenant for this one request (the CLI adds it to additionally_allowed_tenants)",
    )
    parser.add_argument("--show-token", action="store_true", help="also print the access token itself")
    common_options(parser)
    args = parser.parse_args(argv)
    options = _options(args)
    if args.tenant:
        options["additionally_allowed_tenants"] = [args.tenant]
    with FederatedTokenCredential.from_environment(**options) as credential:
        try:
            info = credential.get_token_info(
                args.scope, options={"tenant_id": args.tenant} if args.tenant else None
            )
        except (ClientAuthenticationError, ValueError) as error:
            print(f"error: {getattr(error, 'message', error)}", file=sys.stderr)
            return 1
    claims = unverified_claims(info.token)
    if args.json:
        document: Dict[str, Any] = {
            "expires_on": info.expires_on,
            "refresh_on": info.refresh_on,
            "claims": claims,
        }
        if args.show_token:
            document["token"] = info.token
        print(json.dumps(document, indent=2, sort_keys=True))
        return 0
    print(f"expires_on: {info.expires_on} = {when(info.expires_on)}")
    print(f"refresh_on: {info.refresh_on} = {when(info.refresh_on)}")
    print("claims:", json.dumps(claims, indent=2, sort_keys=True))
    if args.show_token:
        print(info.token)
    return 0


def run_assertion(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="azure-wif-credential assertion",
        description="Get the current assertion from the source the environment provides (as from_environment() "
        "detects it: AZURE_FEDERATED_TOKEN_FILE, GitHub Actions, Azure Pipelines) and show its claims. With "
        "--show, print only the assertion itself, e.g. az login --service-principal --federated-token "
        '"$(azure-wif-credential assertion --show)" ...',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--show", action="store_true", help="print the assertion itself (and nothing else)")
    common_options(parser)
    args = parser.parse_args(argv)
    from .._environment import read_environment

    settings = read_environment(**_options(args))
    if settings.source is None:
        print(f"error: {settings.unavailable_message}", file=sys.stderr)
        return 1
    try:
        from .._inputs import assertion_errors, checked_assertion

        with assertion_errors():
            assertion = checked_assertion(settings.source())
    except ClientAuthenticationError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    if args.show:
        print(assertion)
        return 0
    claims = unverified_claims(assertion)
    if args.json:
        print(json.dumps({"source": settings.source_description, "claims": claims}, indent=2, sort_keys=True))
        return 0
    print(f"source: {settings.source_description}")
    print(f"expires: {when(claims.get('exp')) if isinstance(claims.get('exp'), (int, float)) else 'unknown'}")
    print("claims:", json.dumps(claims, indent=2, sort_keys=True))
    return 0
