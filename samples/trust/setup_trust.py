"""Establish the trust for a GitHub repository and a Kubernetes service account, then use it.

An administrator (any credential Microsoft Graph accepts with Application.ReadWrite.All, e.g.
``az login``) creates the app registration's federated identity credentials; the workloads then get
tokens with no secret. ``--sandbox`` plays Entra, Graph, GitHub and a cluster's issuer offline.

    python setup_trust.py --app <client id> --cluster-issuer https://<region>.oic.prod-aks.azure.com/<id>/
    python setup_trust.py --sandbox
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from azure_wif_credential.trust import (
    GITHUB_ISSUER,
    FederatedIdentityCredential,
    FederatedIdentityCredentials,
    github_subject,
    kubernetes_subject,
)


def establish(fics: FederatedIdentityCredentials, github_issuer: str, cluster_issuer: str) -> None:
    existing = {f.name for f in fics.list()}
    wanted = [
        FederatedIdentityCredential(
            name="github-main", issuer=github_issuer, subject=github_subject("contoso/shop", branch="main")
        ),
        FederatedIdentityCredential(
            name="aks-checkout", issuer=cluster_issuer, subject=kubernetes_subject("shop", "checkout")
        ),
    ]
    for fic in wanted:
        if fic.name in existing:
            print(f"{fic.name}: already there")
            continue
        created = fics.create(fic)
        print(f"{created.name}: trusts {created.subject} from {created.issuer}")


def run_in_sandbox() -> None:
    from azure_wif_credential import FederatedTokenCredential
    from azure_wif_credential.sandbox import Sandbox

    with Sandbox() as sandbox:
        admin = sandbox.register_app(subject="admin", graph_roles=["Application.ReadWrite.All"])
        app = sandbox.register_app(subject=None, tenant_id=admin.tenant_id)  # trusts nothing yet
        options: Any = {"authority": sandbox.authority, "connection_verify": sandbox.ca_file}
        with (
            FederatedTokenCredential(
                admin.tenant_id,
                admin.client_id,
                assertion=lambda: sandbox.issue_assertion(subject="admin"),
                **options,
            ) as administrator,
            FederatedIdentityCredentials(
                administrator,
                application=app.client_id,
                graph_endpoint=sandbox.graph_endpoint,
                connection_verify=sandbox.ca_file,
            ) as fics,
        ):
            # The sandbox's GitHub-like and cluster-like issuers stand in for the real ones.
            establish(fics, sandbox.github_issuer, sandbox.issuer)
        job = sandbox.github_actions_env(repository="contoso/shop", ref="refs/heads/main")
        os.environ.update(job)
        from azure_wif_credential.assertions import GitHubActionsAssertion

        github = GitHubActionsAssertion(connection_verify=sandbox.ca_file)
        pod = lambda: sandbox.issue_assertion(subject=kubernetes_subject("shop", "checkout"))  # noqa: E731
        for who, source in (("the GitHub job", github), ("the checkout pod", pod)):
            with FederatedTokenCredential(
                app.tenant_id, app.client_id, assertion=source, **options
            ) as workload:
                token = workload.get_token("https://storage.azure.com/.default")
                print(f"{who} got a token for storage, expiring at {token.expires_on}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sandbox", action="store_true", help="run offline against the local sandbox")
    parser.add_argument("--app", help="the application (client) id to add the trust to")
    parser.add_argument("--cluster-issuer", help="the Kubernetes cluster's OIDC issuer URL")
    args = parser.parse_args()
    if args.sandbox:
        run_in_sandbox()
        return
    if not args.app or not args.cluster_issuer:
        parser.error("--app and --cluster-issuer are required (or --sandbox)")
    from azure.identity import AzureCliCredential

    with FederatedIdentityCredentials(AzureCliCredential(), application=args.app) as fics:
        establish(fics, GITHUB_ISSUER, args.cluster_issuer)


if __name__ == "__main__":
    main()
