"""Which assertion source the environment provides, by a fixed precedence."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Tuple

from . import _github, _pipelines
from ._base import AssertionSource
from ._file import FileAssertion
from ._github import GitHubActionsAssertion
from ._http import check_pipeline_options
from ._pipelines import AzurePipelinesAssertion

TOKEN_FILE = "AZURE_FEDERATED_TOKEN_FILE"
_GITHUB = (_github.REQUEST_URL, _github.REQUEST_TOKEN)
_PIPELINES = (_pipelines.REQUEST_URI, _pipelines.SERVICE_CONNECTION_ID, _pipelines.ACCESS_TOKEN)

#: What :func:`assertion_from_environment` looks for, in order (for "nothing found" messages).
DETECTION_ORDER = (
    f"{TOKEN_FILE} (Kubernetes workload identity, or any file holding the token), then "
    f"{' and '.join(_GITHUB)} (GitHub Actions; set only in jobs with `permissions: id-token: write`), "
    f"then {', '.join(_PIPELINES[:-1])} and {_PIPELINES[-1]} (Azure Pipelines; map "
    "`SYSTEM_ACCESSTOKEN: $(System.AccessToken)` into the step's env)"
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
