"""Which assertion source the environment provides, by a fixed precedence."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Tuple

from .._audience import audience_for_authority
from . import _github, _pipelines
from ._base import AssertionSource
from ._file import FileAssertion
from ._github import GitHubActionsAssertion
from ._http import check_pipeline_options
from ._pipelines import AzurePipelinesAssertion

TOKEN_FILE = "AZURE_FEDERATED_TOKEN_FILE"
#: Names the source explicitly (the cloud sources are never guessed from incidental credentials).
SOURCE = "AZURE_WIF_ASSERTION_SOURCE"
#: A user-assigned managed identity's client id, for AZURE_WIF_ASSERTION_SOURCE=managed-identity.
MANAGED_IDENTITY_CLIENT_ID = "AZURE_WIF_MANAGED_IDENTITY_CLIENT_ID"
SOURCES = ("file", "github-actions", "azure-pipelines", "aws", "gcp", "managed-identity")
_GITHUB = (_github.REQUEST_URL, _github.REQUEST_TOKEN)
_PIPELINES = (_pipelines.REQUEST_URI, _pipelines.SERVICE_CONNECTION_ID, _pipelines.ACCESS_TOKEN)

#: What :func:`assertion_from_environment` looks for, in order (for "nothing found" messages).
DETECTION_ORDER = (
    f"{TOKEN_FILE} (Kubernetes workload identity, or any file holding the token), then "
    f"{' and '.join(_GITHUB)} (GitHub Actions; set only in jobs with `permissions: id-token: write`), "
    f"then {', '.join(_PIPELINES[:-1])} and {_PIPELINES[-1]} (Azure Pipelines; map "
    "`SYSTEM_ACCESSTOKEN: $(System.AccessToken)` into the step's env); AWS, Google Cloud and managed "
    f"identities only when {SOURCE} names them (aws, gcp, managed-identity)"
)


def assertion_from_environment(
    environ: Mapping[str, str], authority: Optional[str] = None, **pipeline_options: Any
) -> Optional[Tuple[AssertionSource, str]]:
    """The first source whose variables are all set in ``environ``, with a short description.

    Precedence: ``AZURE_FEDERATED_TOKEN_FILE`` → GitHub Actions → Azure Pipelines (see
    :data:`DETECTION_ORDER`); None when none is complete. ``authority`` (the Entra login host) chooses
    the GitHub audience for sovereign clouds; ``pipeline_options`` go to the network sources.
    Nothing is read but ``environ``, and no network is used.
    """
    check_pipeline_options(pipeline_options, "assertion_from_environment")
    chosen = (environ.get(SOURCE) or "").strip().lower()
    if chosen:
        return _chosen(chosen, environ, authority, pipeline_options)
    token_file = environ.get(TOKEN_FILE)
    if token_file:
        return FileAssertion(token_file), f"token file {token_file}"
    if all(environ.get(name) for name in _GITHUB):
        return (
            GitHubActionsAssertion(authority=authority, environ=environ, **pipeline_options),
            "GitHub Actions",
        )
    if all(environ.get(name) for name in _PIPELINES):
        return AzurePipelinesAssertion(environ=environ, **pipeline_options), "Azure Pipelines"
    return None


def _chosen(
    chosen: str, environ: Mapping[str, str], authority: Optional[str], pipeline_options: Mapping[str, Any]
) -> Optional[Tuple[AssertionSource, str]]:
    """The source ``AZURE_WIF_ASSERTION_SOURCE`` names (ValueError for a name we do not know)."""
    audience = audience_for_authority(authority or environ.get("AZURE_AUTHORITY_HOST"))
    if chosen == "aws":
        from ._aws import AwsWebIdentityAssertion

        return AwsWebIdentityAssertion(
            audience
        ), "AWS STS GetWebIdentityToken (AZURE_WIF_ASSERTION_SOURCE=aws)"
    if chosen == "gcp":
        from ._gcp import GcpIdentityAssertion

        return GcpIdentityAssertion(
            audience, **pipeline_options
        ), "the Google Cloud metadata server (AZURE_WIF_ASSERTION_SOURCE=gcp)"
    if chosen == "managed-identity":
        from ._managed_identity import ManagedIdentityAssertion

        client_id = environ.get(MANAGED_IDENTITY_CLIENT_ID) or None
        return ManagedIdentityAssertion(
            client_id, audience=audience
        ), f"managed identity {client_id or '(system-assigned)'}"
    if chosen not in SOURCES:
        raise ValueError(f"{SOURCE}={chosen[:40]!r} is not one of {', '.join(SOURCES)}")
    if chosen == "file":
        path = environ.get(TOKEN_FILE)
        return (FileAssertion(path), f"token file {path}") if path else None
    if chosen == "github-actions":
        if not all(environ.get(name) for name in _GITHUB):
            return None
        return GitHubActionsAssertion(
            authority=authority, environ=environ, **pipeline_options
        ), "GitHub Actions"
    if not all(environ.get(name) for name in _PIPELINES):
        return None
    return AzurePipelinesAssertion(environ=environ, **pipeline_options), "Azure Pipelines"
