"""Which assertion source the environment provides, by a fixed precedence."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Tuple

from .._audience import audience_for_authority
from .._environment import authority_host
from . import _github, _pipelines
from ._base import AssertionSource
from ._file import FileAssertion
from ._github import GitHubActionsAssertion
from ._pipelines import AzurePipelinesAssertion
from ._token_endpoint import check_pipeline_options

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
    :data:`DETECTION_ORDER`); None when none is complete. ``AZURE_WIF_ASSERTION_SOURCE`` names one
    source instead (ValueError for a name we do not know); the cloud sources are chosen only so.
    ``authority`` (the Entra login host) chooses the audience for sovereign clouds;
    ``pipeline_options`` go to the network sources. Nothing is read but ``environ``, and no network is
    used.
    """
    check_pipeline_options(pipeline_options, "assertion_from_environment")
    chosen = (environ.get(SOURCE) or "").strip().lower()
    if chosen and chosen not in SOURCES:
        raise ValueError(f"{SOURCE}={chosen[:40]!r} is not one of {', '.join(SOURCES)}")
    for name in (chosen,) if chosen else _DETECTED:
        found = _build(name, environ, authority, pipeline_options)
        if found is not None:
            return found
    return None


_DETECTED = ("file", "github-actions", "azure-pipelines")


def _build(
    name: str, environ: Mapping[str, str], authority: Optional[str], pipeline_options: Mapping[str, Any]
) -> Optional[Tuple[AssertionSource, str]]:
    """Source ``name`` (one of :data:`SOURCES`) if ``environ`` provides what it needs, else None."""
    if name == "file":
        path = environ.get(TOKEN_FILE)
        return (FileAssertion(path), f"token file {path}") if path else None
    if name == "github-actions":
        if not all(environ.get(variable) for variable in _GITHUB):
            return None
        return GitHubActionsAssertion(
            authority=authority, environ=environ, **pipeline_options
        ), "GitHub Actions"
    if name == "azure-pipelines":
        if not all(environ.get(variable) for variable in _PIPELINES):
            return None
        return AzurePipelinesAssertion(environ=environ, **pipeline_options), "Azure Pipelines"
    audience = audience_for_authority(authority or authority_host(environ))
    if name == "aws":
        from ._aws import AwsWebIdentityAssertion

        return AwsWebIdentityAssertion(audience), f"AWS STS GetWebIdentityToken ({SOURCE}=aws)"
    if name == "gcp":
        from ._gcp import GcpIdentityAssertion

        return GcpIdentityAssertion(
            audience, **pipeline_options
        ), f"the Google Cloud metadata server ({SOURCE}=gcp)"
    from ._managed_identity import ManagedIdentityAssertion

    client_id = environ.get(MANAGED_IDENTITY_CLIENT_ID) or None
    return ManagedIdentityAssertion(
        client_id, audience=audience
    ), f"managed identity {client_id or '(system-assigned)'}"
