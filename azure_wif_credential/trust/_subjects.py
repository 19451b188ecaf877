"""The subjects the common issuers put in their tokens, built as Entra compares them (exactly)."""

from __future__ import annotations

import re
from typing import Optional

#: GitHub Actions' OIDC issuer (no trailing slash: Entra compares issuers character for character).
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_SERVICE_ACCOUNT = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def github_subject(
    repository: str,
    *,
    branch: Optional[str] = None,
    environment: Optional[str] = None,
    tag: Optional[str] = None,
    pull_request: bool = False,
) -> str:
    """GitHub's default ``sub`` for jobs of ``repository`` ("owner/name", its exact case) on one branch,
    environment, tag, or for pull requests: exactly one of them."""
    if not isinstance(repository, str) or not _REPOSITORY.fullmatch(repository):
        raise ValueError(f"repository must be 'owner/name' (e.g. 'contoso/app'), not {repository!r}")
    chosen = [
        part
        for part in (
            branch and f"ref:refs/heads/{branch}",
            environment and f"environment:{environment}",
            tag and f"ref:refs/tags/{tag}",
            pull_request and "pull_request",
        )
        if part
    ]
    if len(chosen) != 1:
        raise ValueError(
            "github_subject needs exactly one of branch=, environment=, tag= or pull_request=True"
        )
    return f"repo:{repository}:{chosen[0]}"


def kubernetes_subject(namespace: str, service_account: str) -> str:
    """A Kubernetes service account's ``sub``: ``system:serviceaccount:NAMESPACE:NAME``."""
    if not isinstance(namespace, str) or not _DNS_LABEL.fullmatch(namespace):
        raise ValueError(
            f"namespace must be a Kubernetes namespace name (lower-case DNS label), not {namespace!r}"
        )
    if not isinstance(service_account, str) or not _SERVICE_ACCOUNT.fullmatch(service_account):
        raise ValueError(
            f"service_account must be a service account name (lower-case), not {service_account!r}"
        )
    return f"system:serviceaccount:{namespace}:{service_account}"
