"""Assertion sources: small callables that each produce the workload's current assertion.

Any ``Callable[[], str]`` is a source (``assertion=`` of both credentials); these are the ones we ship:

- :class:`FileAssertion` — a token file (Kubernetes projected service-account token), re-read when it changes.
- :class:`GitHubActionsAssertion` — GitHub Actions' OIDC token endpoint (``permissions: id-token: write``).
- :class:`AzurePipelinesAssertion` — Azure Pipelines' OIDC endpoint for a service connection.
- :class:`EnvironmentAssertion` — a variable read at each call (GitLab ``id_tokens``, CircleCI
  ``CIRCLE_OIDC_TOKEN_V2``, Bitbucket ``BITBUCKET_STEP_OIDC_TOKEN``, HCP Terraform
  ``TFC_WORKLOAD_IDENTITY_TOKEN``).
- :class:`CommandAssertion` — a program's output (``buildkite-agent oidc request-token``, ``spire-agent api
  fetch jwt``).
- :class:`AwsWebIdentityAssertion` — AWS STS ``GetWebIdentityToken`` (IAM outbound identity federation).
- :class:`GcpIdentityAssertion` — the Google Cloud metadata server's identity token.
- :class:`ManagedIdentityAssertion` — an Azure managed identity's token (cross-tenant access).
- :class:`ReusedAssertion` — wraps any of them, keeping an assertion while its ``exp`` is comfortably ahead.
"""

from typing import TYPE_CHECKING, Any

from ._base import AssertionSource
from ._file import FileAssertion

if TYPE_CHECKING:
    from ._aws import AwsWebIdentityAssertion
    from ._command import CommandAssertion, Secret
    from ._detect import DETECTION_ORDER, assertion_from_environment
    from ._env import EnvironmentAssertion
    from ._gcp import GcpIdentityAssertion
    from ._github import GitHubActionsAssertion
    from ._managed_identity import ManagedIdentityAssertion
    from ._pipelines import AzurePipelinesAssertion
    from ._reuse import ReusedAssertion

# The network and process sources load on first use: importing the credential stays cheap.
_LAZY = {
    "AwsWebIdentityAssertion": "._aws",
    "GcpIdentityAssertion": "._gcp",
    "ManagedIdentityAssertion": "._managed_identity",
    "CommandAssertion": "._command",
    "Secret": "._command",
    "DETECTION_ORDER": "._detect",
    "assertion_from_environment": "._detect",
    "EnvironmentAssertion": "._env",
    "GitHubActionsAssertion": "._github",
    "AzurePipelinesAssertion": "._pipelines",
    "ReusedAssertion": "._reuse",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    # help() and dir() list every public source, the lazy ones included.
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "DETECTION_ORDER",
    "AssertionSource",
    "AwsWebIdentityAssertion",
    "AzurePipelinesAssertion",
    "CommandAssertion",
    "EnvironmentAssertion",
    "FileAssertion",
    "GcpIdentityAssertion",
    "GitHubActionsAssertion",
    "ManagedIdentityAssertion",
    "ReusedAssertion",
    "Secret",
    "assertion_from_environment",
]
