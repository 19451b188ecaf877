"""The script samples/github_actions/workflow.yml runs: reach Azure from a GitHub Actions job, secretless.

Each token exchange asks GitHub for a fresh OIDC token, so a job that runs for hours keeps working
(azure/login fetches one token, and jobs longer than its life die with AADSTS700024).

    python list_containers.py              # in the job: AZURE_CLIENT_ID, AZURE_TENANT_ID and GitHub's
                                           # ACTIONS_ID_TOKEN_REQUEST_* variables; AZURE_STORAGE_ACCOUNT_URL
    python list_containers.py --sandbox    # offline: a local GitHub-like token service and Entra sandbox
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import jwt

from azure_wif_credential import FederatedTokenCredential
from azure_wif_credential.assertions import GitHubActionsAssertion

ARM = "https://management.azure.com/.default"
STORAGE = "https://storage.azure.com/.default"


def describe(token: str) -> str:
    """What a token says about itself; never print the token."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return (
        f"aud={claims.get('aud')} appid={claims.get('appid')} expires in {claims['exp'] - time.time():.0f} s"
    )


def job_step(credential: FederatedTokenCredential, scope: str) -> None:
    print(f"token for {scope}: {describe(credential.get_token(scope).token)}")


def list_containers(credential: FederatedTokenCredential, account_url: str, **client_options: Any) -> None:
    from azure.storage.blob import BlobServiceClient

    with BlobServiceClient(account_url, credential=credential, **client_options) as blobs:
        for container in blobs.list_containers():
            print(f"container: {container.name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sandbox", action="store_true", help="run offline against the local sandbox")
    if parser.parse_args(argv).sandbox:
        return run_in_sandbox()
    with FederatedTokenCredential(
        os.environ["AZURE_TENANT_ID"], os.environ["AZURE_CLIENT_ID"], assertion=GitHubActionsAssertion()
    ) as credential:
        job_step(credential, ARM)
        account_url = os.environ.get("AZURE_STORAGE_ACCOUNT_URL")
        if account_url:
            list_containers(credential, account_url)
    return 0


def run_in_sandbox() -> int:
    """The same job against the sandbox: GitHub tokens that live 2 s, and a job that outlives them."""
    from azure_wif_credential.sandbox import Sandbox

    with Sandbox() as sandbox:
        os.environ.update(sandbox.github_actions_env(repository="octo-org/octo-repo", token_lifetime=2))
        app = sandbox.register_app(
            subject="repo:octo-org/octo-repo:ref:refs/heads/main", issuer=sandbox.github_issuer
        )
        trust_sandbox: dict[str, Any] = {"connection_verify": sandbox.ca_file}
        with FederatedTokenCredential(
            app.tenant_id,
            app.client_id,
            assertion=GitHubActionsAssertion(**trust_sandbox),
            authority=sandbox.authority,
            **trust_sandbox,
        ) as credential:
            job_step(credential, ARM)
            print("... a long build step: the job's first GitHub token expires ...")
            time.sleep(3)
            job_step(credential, STORAGE)
            list_sandbox_containers(credential)
        print(f"GitHub OIDC tokens requested: {sandbox.request_count('github')}")
    return 0


def list_sandbox_containers(credential: FederatedTokenCredential) -> None:
    """List containers on Azurite (the storage emulator, trusting the sandbox's tokens), when installed."""
    from azure_wif_credential.testing import Azurite, find_azurite

    found = find_azurite()
    if found is None:
        print(
            "Azurite is not installed (npm ci in the repository, or azurite-blob on PATH): no containers to list"
        )
        return
    from azure.storage.blob import BlobServiceClient

    with Azurite(executable=found[0]) as azurite:
        with BlobServiceClient(
            azurite.account_url, credential=credential, connection_verify=azurite.ca_file
        ) as blobs:
            blobs.create_container("build-artifacts")
        list_containers(credential, azurite.account_url, connection_verify=azurite.ca_file)


if __name__ == "__main__":
    raise SystemExit(main())
