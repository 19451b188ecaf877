"""The asyncio credential: many coroutines, one token request per scope, the event loop never blocked.

azure_wif_credential.aio.FederatedTokenCredential takes the same arguments as the sync one. Synchronous
sources such as GitHubActionsAssertion (an HTTPS call) run in a worker thread; a coroutine function is
awaited. Concurrent callers of a cold scope share one exchange.

    python async_tokens.py              # in a GitHub Actions job with `permissions: id-token: write`,
                                        # AZURE_CLIENT_ID and AZURE_TENANT_ID; AZURE_STORAGE_ACCOUNT_URL
    python async_tokens.py --sandbox    # offline, against the sandbox's GitHub-like token service
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

import jwt

from azure_wif_credential.aio import FederatedTokenCredential
from azure_wif_credential.assertions import GitHubActionsAssertion

SCOPES = ("https://management.azure.com/.default", "https://storage.azure.com/.default")


def describe(token: str) -> str:
    """What a token says about itself; never print the token."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return (
        f"aud={claims.get('aud')} appid={claims.get('appid')} expires in {claims['exp'] - time.time():.0f} s"
    )


async def work(credential: FederatedTokenCredential, callers_per_scope: int = 10) -> None:
    """Many concurrent callers per scope, as in a busy async service."""
    calls = [credential.get_token(scope) for scope in SCOPES for _ in range(callers_per_scope)]
    tokens = await asyncio.gather(*calls)
    for scope, token in zip(SCOPES, tokens[::callers_per_scope]):
        print(f"token for {scope}: {describe(token.token)}")
    print(f"{len(tokens)} concurrent get_token calls answered")
    account_url = os.environ.get("AZURE_STORAGE_ACCOUNT_URL")
    if account_url:
        from azure.storage.blob.aio import BlobServiceClient

        async with BlobServiceClient(account_url, credential=credential) as blobs:
            async for container in blobs.list_containers():
                print(f"container: {container.name}")


async def main_async(sandbox: bool) -> int:
    if sandbox:
        return await run_in_sandbox()
    async with FederatedTokenCredential(
        os.environ["AZURE_TENANT_ID"], os.environ["AZURE_CLIENT_ID"], assertion=GitHubActionsAssertion()
    ) as credential:
        await work(credential)
    return 0


async def run_in_sandbox() -> int:
    from azure_wif_credential.sandbox import Sandbox

    with Sandbox() as sandbox:
        os.environ.update(sandbox.github_actions_env(repository="octo-org/octo-repo"))
        os.environ.pop("AZURE_STORAGE_ACCOUNT_URL", None)
        app = sandbox.register_app(
            subject="repo:octo-org/octo-repo:ref:refs/heads/main", issuer=sandbox.github_issuer
        )
        trust_sandbox: dict[str, Any] = {"connection_verify": sandbox.ca_file}
        async with FederatedTokenCredential(
            app.tenant_id,
            app.client_id,
            assertion=GitHubActionsAssertion(**trust_sandbox),
            authority=sandbox.authority,
            **trust_sandbox,
        ) as credential:
            await work(credential)
        print(
            f"token requests: {sandbox.request_count('token')}, "
            f"GitHub OIDC tokens requested: {sandbox.request_count('github')}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sandbox", action="store_true", help="run offline against the local sandbox")
    return asyncio.run(main_async(parser.parse_args(argv).sandbox))


if __name__ == "__main__":
    raise SystemExit(main())
