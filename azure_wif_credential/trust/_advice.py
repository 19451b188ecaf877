"""The mistakes users make when they establish trust, warned about before they cost an AADSTS70021."""

from __future__ import annotations

import re
import warnings
from typing import Callable, Optional
from urllib.parse import urlsplit

from ._model import FederatedIdentityCredential
from ._subjects import GITHUB_ISSUER


class TrustWarning(UserWarning):
    """A federated identity credential that Graph accepts but that will probably never match a token."""


_GITHUB_KEYWORDS = ("repo", "ref", "environment", "pull_request", "refs", "heads", "tags")
_CLUSTER_INTERNAL = re.compile(r"(^|\.)(kubernetes\.default(\.svc)?(\.cluster\.local)?|localhost)$")


def advise(
    credential: FederatedIdentityCredential, discovered_issuer: Callable[[str], Optional[str]]
) -> None:
    """Warn (TrustWarning) about: an issuer whose discovery document names it differently (a trailing
    slash), GitHub subject keywords in the wrong case, and a Kubernetes subject trusted from an address
    that is not a cluster's public OIDC issuer."""
    issuer, subject = credential.issuer, credential.subject or ""
    published = discovered_issuer(issuer)
    if published is not None and published != issuer and published.rstrip("/") == issuer.rstrip("/"):
        warnings.warn(
            f"issuer {issuer!r}: its discovery document says {published!r}. Entra compares the token's iss "
            "character for character, so use exactly that.",
            TrustWarning,
            stacklevel=3,
        )
    if issuer.rstrip("/") == GITHUB_ISSUER and subject:
        for part in re.split(r"[:/]", subject):
            if part.lower() in _GITHUB_KEYWORDS and part != part.lower():
                warnings.warn(
                    f"subject {subject!r}: GitHub writes {part.lower()!r} in lower case; Entra compares subjects "
                    "exactly (use github_subject()).",
                    TrustWarning,
                    stacklevel=3,
                )
                break
    if subject.startswith("system:serviceaccount:"):
        host = (urlsplit(issuer).hostname or "").lower()
        if _CLUSTER_INTERNAL.search(host) or host.endswith(".svc") or host.endswith(".cluster.local"):
            warnings.warn(
                f"issuer {issuer!r} is the cluster's internal API address, not its OIDC issuer: Entra must "
                "fetch the issuer's discovery document from the internet (on AKS: az aks show --query "
                "oidcIssuerProfile.issuerUrl).",
                TrustWarning,
                stacklevel=3,
            )
