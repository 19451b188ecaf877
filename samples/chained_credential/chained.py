"""One credential for every place the code runs: workload identity federation first, then the Azure CLI.

In CI or a Kubernetes pod, FederatedTokenCredential.from_environment() finds the federated token and
answers. On a developer's laptop nothing is set, so it raises CredentialUnavailableError and the chain
moves on to AzureCliCredential (`az login`). A federated exchange that Entra *rejects* stops the chain,
as azure-identity's own credentials do: a misconfigured federated credential is reported, not hidden.

    python chained.py              # wherever you are: prints the token the chain got (its claims)
    python chained.py --sandbox    # offline: the environment of a Kubernetes pod, played by the sandbox
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

import jwt
from azure.identity import AzureCliCredential, ChainedTokenCredential, CredentialUnavailableError

from azure_wif_credential import FederatedTokenCredential

ARM = "https://management.azure.com/.default"


def describe(token: str) -> str:
    """What a token says about itself; never print the token."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return (
        f"aud={claims.get('aud')} appid={claims.get('appid')} expires in {claims['exp'] - time.time():.0f} s"
    )


def chained_credential(**options: Any) -> ChainedTokenCredential:
    return ChainedTokenCredential(FederatedTokenCredential.from_environment(**options), AzureCliCredential())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sandbox", action="store_true", help="run offline against the local sandbox")
    if parser.parse_args(argv).sandbox:
        return run_in_sandbox()
    with chained_credential() as credential:
        print(f"token for {ARM}: {describe(credential.get_token(ARM).token)}")
    return 0


def run_in_sandbox() -> int:
    from azure_wif_credential.sandbox import Sandbox

    subject = "system:serviceaccount:default:web"
    with Sandbox() as sandbox, tempfile.TemporaryDirectory() as projected:
        app = sandbox.register_app(subject=subject)
        token_file = os.path.join(projected, "azure-identity-token")
        with open(token_file, "w", encoding="ascii") as file:
            file.write(sandbox.issue_assertion(subject=subject))
        pod = {
            "AZURE_CLIENT_ID": app.client_id,
            "AZURE_TENANT_ID": app.tenant_id,
            "AZURE_AUTHORITY_HOST": sandbox.authority,
            "AZURE_FEDERATED_TOKEN_FILE": token_file,
        }
        os.environ.update(pod)
        with chained_credential(connection_verify=sandbox.ca_file) as credential:
            print(
                f"in the pod, the chain's first credential answers: {describe(credential.get_token(ARM).token)}"
            )

        # On a laptop none of the pod's variables is set: ours steps aside with a reason. (The chain's
        # next credential, AzureCliCredential, would now ask `az`; not run here, it would contact Azure.)
        for name in pod:
            del os.environ[name]
        with FederatedTokenCredential.from_environment() as ours:
            try:
                ours.get_token(ARM)
            except CredentialUnavailableError as unavailable:
                print(f"on a laptop, ours is unavailable and the chain moves on: {unavailable.message}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
