"""The program samples/kubernetes/pod.yaml runs: a long-lived workload reaching Azure with the pod's identity.

Azure Workload Identity's webhook sets AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_AUTHORITY_HOST and
AZURE_FEDERATED_TOKEN_FILE; kubelet rotates the token file. ``from_environment()`` reads the file again
whenever it changes, and refreshes access tokens in the background before they expire.

    python app.py                  # in the pod: lists AZURE_STORAGE_ACCOUNT_URL's containers every minute
    python app.py --sandbox        # offline: the sandbox plays Entra, a temp file plays the projected token
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import jwt

from azure_wif_credential import FederatedTokenCredential

STORAGE = "https://storage.azure.com/.default"
SUBJECT = "system:serviceaccount:default:web"


def describe(token: str) -> str:
    """What a token says about itself; never print the token."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return (
        f"aud={claims.get('aud')} appid={claims.get('appid')} expires in {claims['exp'] - time.time():.0f} s"
    )


def use_azure(credential: FederatedTokenCredential, scope: str = STORAGE) -> None:
    """One round of the workload's work: list containers, or show the token it would use."""
    account_url = os.environ.get("AZURE_STORAGE_ACCOUNT_URL")
    if account_url:
        from azure.storage.blob import BlobServiceClient

        with BlobServiceClient(account_url, credential=credential) as blobs:
            print("containers:", ", ".join(container.name for container in blobs.list_containers()))
    else:
        print(f"token for {scope}: {describe(credential.get_token(scope).token)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sandbox", action="store_true", help="run offline against the local sandbox")
    if parser.parse_args(argv).sandbox:
        return run_in_sandbox()
    with FederatedTokenCredential.from_environment() as credential:
        while True:
            use_azure(credential)
            time.sleep(60)


def run_in_sandbox() -> int:
    """The webhook's variables, pointing at the sandbox; the token file rotated as kubelet would."""
    from azure_wif_credential.sandbox import Sandbox

    with Sandbox() as sandbox, tempfile.TemporaryDirectory() as projected:
        app = sandbox.register_app(subject=SUBJECT)
        token_file = os.path.join(projected, "azure-identity-token")

        def kubelet_writes_token() -> None:
            with open(token_file + ".new", "w", encoding="ascii") as file:
                file.write(sandbox.issue_assertion(subject=SUBJECT, lifetime=3600))
            os.replace(token_file + ".new", token_file)

        kubelet_writes_token()
        os.environ.update(
            AZURE_CLIENT_ID=app.client_id,
            AZURE_TENANT_ID=app.tenant_id,
            AZURE_AUTHORITY_HOST=sandbox.authority,
            AZURE_FEDERATED_TOKEN_FILE=token_file,
        )
        os.environ.pop("AZURE_STORAGE_ACCOUNT_URL", None)
        with FederatedTokenCredential.from_environment(connection_verify=sandbox.ca_file) as credential:
            use_azure(credential)
            kubelet_writes_token()
            print("kubelet rotated the projected token; the next exchange reads the new one")
            use_azure(credential, "https://vault.azure.net/.default")
        print(f"token requests to the sandbox STS: {sandbox.request_count('token')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
