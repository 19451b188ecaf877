"""``azure-wif-credential trust list|create|delete``: an app registration's federated identity
credentials, through Microsoft Graph."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shlex
import sys
import warnings
from typing import Any, Dict, List, Optional, Tuple

from azure.core.exceptions import ClientAuthenticationError

from .._audience import audience_for_authority
from .._environment import authority_host
from ._token import common_options

#: The Graph the CLI talks to when --graph-endpoint is not given (the sandbox's CLI exports it).
GRAPH_ENDPOINT_VARIABLE = "AZURE_WIF_GRAPH_ENDPOINT"


def graph_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--graph-endpoint",
        default=os.environ.get(GRAPH_ENDPOINT_VARIABLE),
        help=f"Microsoft Graph's URL (default ${GRAPH_ENDPOINT_VARIABLE}, else the cloud's Graph for AZURE_AUTHORITY_HOST)",
    )
    common_options(parser, "the authority and Graph")


def graph_credential(ca_file: Optional[str], *, workload: bool = True) -> Tuple[Any, str]:
    """The credential ``trust`` and ``doctor`` call Graph with, and a description to say so:

    1. the trust-managing identity of ``AZURE_WIF_GRAPH_CLIENT_ID`` (tenant ``AZURE_WIF_GRAPH_TENANT_ID``,
       else ``AZURE_TENANT_ID``; assertion from ``AZURE_WIF_GRAPH_TOKEN_FILE``, else the workload's
       source), when set: an app allowed to manage FICs (the sandbox exports one);
    2. the workload's own ``FederatedTokenCredential.from_environment()`` (an app managing its own FICs),
       unless ``workload=False`` (doctor after a failed exchange: that identity just failed);
    3. azure-identity's ``AzureCliCredential`` (``az login``)."""
    from .._credential import FederatedTokenCredential
    from .._environment import GRAPH_CLIENT_ID, read_environment, trust_manager_environment

    options: Dict[str, Any] = {"connection_verify": ca_file} if ca_file else {}
    manager = trust_manager_environment()
    if manager is not None:
        settings = read_environment(manager, **options)
        if settings.unavailable_message is not None:
            raise ValueError(
                f"{GRAPH_CLIENT_ID} is set, but " + settings.unavailable_message.split(": ", 1)[-1]
            )
        assert settings.tenant_id and settings.client_id
        credential = FederatedTokenCredential(
            settings.tenant_id,
            settings.client_id,
            assertion=settings.source,
            authority=settings.authority,
            **options,
        )
        return credential, (
            f"the trust-managing identity {GRAPH_CLIENT_ID} (client {settings.client_id}, "
            f"{settings.source_description})"
        )
    settings = read_environment(**options)
    if workload and settings.unavailable_message is None:
        return FederatedTokenCredential.from_environment(**options), (
            f"FederatedTokenCredential.from_environment() (client {settings.client_id}, {settings.source_description})"
        )
    from azure.identity import AzureCliCredential

    why = "the environment provides no federated credential" if workload else f"{GRAPH_CLIENT_ID} is not set"
    return AzureCliCredential(), f"AzureCliCredential (az login), as {why}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="azure-wif-credential trust",
        description="List, create and delete an app registration's federated identity credentials through "
        "Microsoft Graph (Application.ReadWrite.All, or .OwnedBy for an app you own).",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="list|create|delete")
    listing = verbs.add_parser("list", help="the app's federated identity credentials")
    listing.add_argument("--app", required=True, help="the application (client) id")
    graph_options(listing)
    delete = verbs.add_parser("delete", help="delete one by name")
    delete.add_argument("--app", required=True, help="the application (client) id")
    delete.add_argument("--name", required=True)
    graph_options(delete)
    create = verbs.add_parser("create", help="create one: github, kubernetes or custom")
    kinds = create.add_subparsers(dest="kind", required=True, metavar="github|kubernetes|custom")
    github = kinds.add_parser("github", help="trust GitHub Actions jobs of a repository")
    github.add_argument("--repo", required=True, help="ORG/REPO, in the repository's exact case")
    github.add_argument(
        "--owner-id",
        type=int,
        help="the owner's numeric id, with --repo-id: GitHub's immutable subject (repositories created, "
        "renamed or transferred on github.com since 2026-06-18)",
    )
    github.add_argument("--repo-id", type=int, help="the repository's numeric id (with --owner-id)")
    github.add_argument(
        "--issuer",
        default=None,
        help="the issuer of the jobs' tokens (default: github.com's, "
        "https://token.actions.githubusercontent.com; GitHub Enterprise Server: https://HOST/_services/token)",
    )
    which = github.add_mutually_exclusive_group(required=True)
    which.add_argument("--branch")
    which.add_argument("--environment")
    which.add_argument("--tag")
    which.add_argument("--pull-request", action="store_true")
    kubernetes = kinds.add_parser("kubernetes", help="trust a Kubernetes service account")
    kubernetes.add_argument("--issuer", required=True, help="the cluster's OIDC issuer URL")
    kubernetes.add_argument("--namespace", required=True)
    kubernetes.add_argument("--service-account", required=True)
    custom = kinds.add_parser("custom", help="trust any issuer and subject")
    custom.add_argument("--issuer", required=True)
    custom.add_argument("--subject", required=True)
    for kind in (github, kubernetes, custom):
        kind.add_argument("--app", required=True, help="the application (client) id")
        kind.add_argument("--name", help="the credential's name (default: derived from what it trusts)")
        kind.add_argument(
            "--audience", help="default: the token-exchange audience of AZURE_AUTHORITY_HOST's cloud"
        )
        kind.add_argument("--description")
        graph_options(kind)
    return parser


def _to_create(args: argparse.Namespace) -> Any:
    from ..trust import GITHUB_ISSUER, FederatedIdentityCredential, github_subject, kubernetes_subject
    from ..trust._subjects import IMMUTABLE_SUBJECTS_SINCE

    if args.kind == "github":
        issuer = args.issuer or GITHUB_ISSUER
        if (args.owner_id is None) != (args.repo_id is None):
            raise ValueError("--owner-id and --repo-id go together (GitHub's immutable subject needs both)")
        if args.owner_id is None:
            warnings.warn(
                "the subject names the repository by name; repositories created, renamed or transferred on "
                f"github.com since {IMMUTABLE_SUBJECTS_SINCE} send GitHub's immutable subject "
                "(repo:OWNER-OWNERID/REPO-REPOID:...): pass --owner-id and --repo-id for those (the ids: "
                f"gh api repos/{args.repo} --jq '.owner.id, .id', or the token's repository_owner_id and "
                "repository_id claims)",
                stacklevel=2,
            )
        subject = github_subject(
            args.repo,
            owner_id=args.owner_id,
            repository_id=args.repo_id,
            branch=args.branch,
            environment=args.environment,
            tag=args.tag,
            pull_request=args.pull_request,
        )
    elif args.kind == "kubernetes":
        issuer, subject = args.issuer, kubernetes_subject(args.namespace, args.service_account)
    else:
        issuer, subject = args.issuer, args.subject
    audience = args.audience or audience_for_authority(authority_host())
    name = args.name or default_name(args.kind, subject)
    return FederatedIdentityCredential(
        name=name, issuer=issuer, subject=subject, audiences=[audience], description=args.description
    )


def default_name(kind: str, subject: str) -> str:
    """A name from what the credential trusts: URL-safe, at most 120 characters."""
    tail = subject.replace("system:serviceaccount:", "", 1) if kind == "kubernetes" else subject
    if kind == "github":
        tail = tail.split(":", 1)[-1]
    slug = re.sub(r"[^A-Za-z0-9._~-]+", "-", tail).strip("-._~")
    return f"{kind}-{slug}"[:120].rstrip("-._~") or kind


def create_command(app: str, fic: Any, graph_endpoint: Optional[str]) -> str:
    """The exact command that creates ``fic`` (what doctor suggests)."""
    words = ["azure-wif-credential", "trust", "create", "custom", "--app", app, "--name", fic.name]
    words += ["--issuer", fic.issuer, "--subject", fic.subject or "", "--audience", fic.audiences[0]]
    if graph_endpoint:
        words += ["--graph-endpoint", graph_endpoint]
    return " ".join(shlex.quote(w) for w in words)


def github_create_command(app: str, fic: Any, graph_endpoint: Optional[str]) -> Optional[str]:
    """``trust create github ...`` for a FIC whose subject is one of GitHub's (by name or by ids), with
    the ids when the subject carries them; None for any other subject."""
    from ..trust import GITHUB_ISSUER
    from ..trust._subjects import read_github_subject

    read = read_github_subject(fic.subject)
    if read is None:
        return None
    rest = read.rest
    words = ["azure-wif-credential", "trust", "create", "github", "--app", app, "--repo", read.repository]
    if read.owner_id is not None and read.repository_id is not None:
        words += ["--owner-id", read.owner_id, "--repo-id", read.repository_id]
    if rest.startswith("ref:refs/heads/"):
        words += ["--branch", rest[len("ref:refs/heads/") :]]
    elif rest.startswith("ref:refs/tags/"):
        words += ["--tag", rest[len("ref:refs/tags/") :]]
    elif rest.startswith("environment:"):
        words += ["--environment", rest[len("environment:") :]]
    elif rest == "pull_request":
        words += ["--pull-request"]
    else:
        return None
    if fic.issuer.rstrip("/") != GITHUB_ISSUER:
        words += ["--issuer", fic.issuer]
    words += ["--name", fic.name, "--audience", fic.audiences[0]]
    if graph_endpoint:
        words += ["--graph-endpoint", graph_endpoint]
    return " ".join(shlex.quote(w) for w in words)


def describe(fic: Any) -> Dict[str, Any]:
    return dataclasses.asdict(fic)


def run(argv: List[str]) -> int:
    from ..trust import FederatedIdentityCredentials, GraphError

    args = _parser().parse_args(argv)
    credential, which = graph_credential(args.ca_file)
    print(f"authenticating to Microsoft Graph with {which}", file=sys.stderr)
    options: Dict[str, Any] = {"connection_verify": args.ca_file} if args.ca_file else {}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fics = FederatedIdentityCredentials(
                credential, application=args.app, graph_endpoint=args.graph_endpoint, **options
            )
            with fics:
                result = _perform(fics, args)
        for warning in caught:
            print(f"warning: {warning.message}", file=sys.stderr)
    except (GraphError, ClientAuthenticationError, ValueError) as error:
        print(f"error: {getattr(error, 'message', None) or error}", file=sys.stderr)
        return 1
    finally:
        close = getattr(credential, "close", None)
        if close is not None:
            close()
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    elif args.verb == "list":
        for item in result:
            what = (
                item["subject"]
                if item["subject"] is not None
                else f"claims match: {item['claims_matching_expression']}"
            )
            print(f"{item['name']}: {item['issuer']} | {what} | {', '.join(item['audiences'])}")
        if not result:
            print("no federated identity credentials")
    elif args.verb == "create":
        print(
            f"created {result['name']}: {result['issuer']} | {result['subject']} | {', '.join(result['audiences'])}"
        )
    else:
        print(f"deleted {args.name}")
    return 0


def _perform(fics: Any, args: argparse.Namespace) -> Any:
    if args.verb == "list":
        return [describe(f) for f in fics.list()]
    if args.verb == "delete":
        fics.delete(args.name)
        return {"deleted": args.name}
    return describe(fics.create(_to_create(args)))
