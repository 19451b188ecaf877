"""``azure-wif-credential token``: one token from the environment, its claims shown, the token only on request."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Dict, List

from azure.core.exceptions import ClientAuthenticationError

from ._claims import unverified_claims
from ._credential import FederatedTokenCredential


def run(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="azure-wif-credential token")
    parser.add_argument("--scope", default="https://management.azure.com/.default")
    parser.add_argument("--tenant", default=None, help="tenant for this request (must be allowed)")
    parser.add_argument("--ca-file", default=None, help="CA bundle for the authority (connection_verify)")
    parser.add_argument("--show-token", action="store_true", help="also print the access token itself")
    args = parser.parse_args(argv)
    options: Dict[str, Any] = {"connection_verify": args.ca_file} if args.ca_file else {}
    if args.tenant:
        options["additionally_allowed_tenants"] = [args.tenant]
    with FederatedTokenCredential.from_environment(**options) as credential:
        try:
            info = credential.get_token_info(
                args.scope, options={"tenant_id": args.tenant} if args.tenant else None
            )
        except ClientAuthenticationError as error:
            print(f"error: {error.message}", file=sys.stderr)
            return 1
    claims = unverified_claims(info.token)
    print(f"expires_on: {info.expires_on} ({info.expires_on - int(time.time())}s from now)")
    print(f"refresh_on: {info.refresh_on}")
    print("claims:", json.dumps(claims, indent=2, sort_keys=True))
    if args.show_token:
        print(info.token)
    return 0
