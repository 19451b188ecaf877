"""A VM, GKE pod or Cloud Run service on Google Cloud reaching Azure with its service account.

The metadata server hands the workload an identity token for any audience; an app registration's
federated identity credential trusts ``https://accounts.google.com`` for the service account's unique
id as subject.

    AZURE_TENANT_ID=... AZURE_CLIENT_ID=... python report.py
    python report.py --sandbox      # offline: the sandbox plays Entra and the metadata server
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import jwt

from azure_wif_credential import FederatedTokenCredential
from azure_wif_credential.assertions import GcpIdentityAssertion

GRAPH = "https://graph.microsoft.com/.default"


def describe(token: str) -> str:
    """What a token says about itself; never print the token."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return f"aud={claims.get('aud')} expires in {claims['exp'] - time.time():.0f} s"


def run(**options: Any) -> None:
    source = GcpIdentityAssertion()
    with FederatedTokenCredential(
        os.environ["AZURE_TENANT_ID"], os.environ["AZURE_CLIENT_ID"], assertion=source, **options
    ) as credential:
        claims = jwt.decode(source(), options={"verify_signature": False})
        print(f"the Google token's subject: service account {claims['sub']} ({claims.get('email')})")
        print(f"token for {GRAPH}: {describe(credential.get_token(GRAPH).token)}")


def run_in_sandbox() -> None:
    from azure_wif_credential.sandbox import Sandbox

    with Sandbox() as sandbox:
        os.environ.update(sandbox.gcp_metadata_env())  # GCE_METADATA_HOST: the sandbox's metadata server
        app = sandbox.register_app(subject=sandbox.gcp_service_account_id, issuer=sandbox.gcp_issuer)
        os.environ.update(AZURE_TENANT_ID=app.tenant_id, AZURE_CLIENT_ID=app.client_id)
        run(authority=sandbox.authority, connection_verify=sandbox.ca_file)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sandbox", action="store_true", help="run offline against the local sandbox")
    if parser.parse_args().sandbox:
        run_in_sandbox()
    else:
        run()


if __name__ == "__main__":
    main()
