"""The subjects the common issuers put in their tokens, built as Entra compares them (exactly)."""

from __future__ import annotations

import re
from typing import Any, NamedTuple, Optional

#: GitHub Actions' OIDC issuer (no trailing slash: Entra compares issuers character for character).
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_SERVICE_ACCOUNT = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


#: Since this day repositories created, renamed or transferred on github.com get the immutable subject.
IMMUTABLE_SUBJECTS_SINCE = "2026-06-18"
#: ``repo:OWNER-OWNERID/REPO-REPOID:`` (immutable) against ``repo:OWNER/REPO:`` (by name).
_IMMUTABLE_PREFIX = re.compile(r"repo:(?P<owner>[^/:]+)-(?P<owner_id>\d+)/(?P<name>[^/:]+)-(?P<repo_id>\d+):")


def github_subject(
    repository: str,
    *,
    owner_id: Optional[int] = None,
    repository_id: Optional[int] = None,
    branch: Optional[str] = None,
    environment: Optional[str] = None,
    tag: Optional[str] = None,
    pull_request: bool = False,
) -> str:
    """GitHub's default ``sub`` for jobs of ``repository`` ("owner/name", its exact case) on one branch,
    environment, tag, or for pull requests: exactly one of them.

    With ``owner_id`` and ``repository_id`` (both, or neither), GitHub's immutable form
    ``repo:OWNER-OWNERID/REPO-REPOID:...``, which repositories created, renamed or transferred on
    github.com since 2026-06-18 (and those that opted in) put in their tokens; GitHub Enterprise Server
    keeps the form by name. The ids are the token's ``repository_owner_id`` and ``repository_id`` claims
    (also ``gh api repos/OWNER/REPO --jq '.owner.id, .id'``)."""
    if not isinstance(repository, str) or not _REPOSITORY.fullmatch(repository):
        raise ValueError(f"repository must be 'owner/name' (e.g. 'contoso/app'), not {repository!r}")
    if (owner_id is None) != (repository_id is None):
        raise ValueError(
            "github_subject needs both owner_id= and repository_id= (GitHub's immutable subject) or "
            "neither (the subject by name)"
        )
    if owner_id is not None and repository_id is not None:
        for name, value in (("owner_id", owner_id), ("repository_id", repository_id)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"{name} must be GitHub's numeric id (a positive whole number), not {value!r}"
                )
        owner, name = repository.split("/", 1)
        repository = f"{owner}-{owner_id}/{name}-{repository_id}"
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


class GithubSubject(NamedTuple):
    """A GitHub subject read back: its repository by name ("owner/name"), what follows the repository
    (``ref:refs/heads/main``), and the owner's and repository's ids when it is the immutable form."""

    repository: str
    rest: str
    owner_id: Optional[str] = None
    repository_id: Optional[str] = None

    @property
    def immutable(self) -> bool:
        return self.owner_id is not None


def read_github_subject(subject: Any) -> Optional[GithubSubject]:
    """The parts of a GitHub subject, by name or immutable; None for a subject that is not GitHub's."""
    if not isinstance(subject, str) or not subject.startswith("repo:"):
        return None
    found = _IMMUTABLE_PREFIX.match(subject)
    if found:
        by_name = f"{found['owner']}/{found['name']}"
        return GithubSubject(by_name, subject[found.end() :], found["owner_id"], found["repo_id"])
    repository, sep, rest = subject[len("repo:") :].partition(":")
    if not sep or repository.count("/") != 1:
        return None
    return GithubSubject(repository, rest)


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
