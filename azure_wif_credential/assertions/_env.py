"""A token that the CI platform puts in an environment variable."""

from __future__ import annotations

import os
from typing import Mapping, Optional

from .._errors import credential_unavailable


class EnvironmentAssertion:
    """The assertion held by an environment variable, read at every call (whitespace stripped).

    For platforms that hand the job its OIDC token in a variable:

    - GitLab CI: the variable named in the job's ``id_tokens:`` section, e.g. ``AZURE_ID_TOKEN`` for
      ``id_tokens: {AZURE_ID_TOKEN: {aud: api://AzureADTokenExchange}}``;
    - CircleCI: ``CIRCLE_OIDC_TOKEN_V2`` (its ``aud`` is the organisation id, so the federated
      credential's audience must be that id);
    - Bitbucket Pipelines: ``BITBUCKET_STEP_OIDC_TOKEN`` (in steps with ``oidc: true``);
    - HCP Terraform: ``TFC_WORKLOAD_IDENTITY_TOKEN`` (with ``TFC_WORKLOAD_IDENTITY_AUDIENCE`` set).

    These tokens live as long as the job or less, and nobody refreshes the variable: a job longer than
    the token's lifetime needs a source that can ask again (:class:`CommandAssertion`, a CI API).
    An unset or empty variable raises :class:`~azure.identity.CredentialUnavailableError` naming it.

    :param variable: the variable's name.
    :keyword environ: where to read it (default: ``os.environ`` at each call).
    """

    def __init__(self, variable: str, *, environ: Optional[Mapping[str, str]] = None) -> None:
        if not variable:
            raise ValueError("EnvironmentAssertion needs the name of the variable holding the token")
        self._variable = variable
        self._environ = environ

    @property
    def variable(self) -> str:
        return self._variable

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._variable!r})"

    def __call__(self) -> str:
        env = os.environ if self._environ is None else self._environ
        value = (env.get(self._variable) or "").strip()
        if not value:
            state = "is empty" if self._variable in env else "is not set"
            raise credential_unavailable(
                f"The environment variable {self._variable} {state}: it should hold the job's OIDC "
                "token (check the CI configuration that requests it, e.g. GitLab `id_tokens:`)."
            )
        return value
