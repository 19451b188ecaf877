"""What an assertion source is: anything that, called, returns the current assertion."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict, Optional, Protocol, Union, runtime_checkable


@runtime_checkable
class AssertionSource(Protocol):
    """Produces the workload's current assertion (a JWT from its own identity provider).

    Raise :class:`azure.identity.CredentialUnavailableError` when the environment does not provide one
    (so a credential chain moves on); any other exception is reported as an authentication failure.
    """

    def __call__(self) -> str: ...


#: What the sync credential accepts as ``assertion=``.
SyncAssertion = Callable[[], str]
#: What the async credential accepts as ``assertion=``: a plain callable or a coroutine function.
AnyAssertion = Union[Callable[[], str], Callable[[], Awaitable[str]]]


class AudienceSource:
    """What the sources that ask a platform for a token for an audience share: the ``audience`` (by
    default the token-exchange audience of the authority's cloud) and a ``repr`` without secrets."""

    _audience: str

    def _choose_audience(self, audience: Optional[str], authority: Optional[str] = None) -> None:
        from .._audience import audience_for_authority
        from .._environment import authority_host

        self._audience = audience or audience_for_authority(authority or authority_host())

    @property
    def audience(self) -> str:
        return self._audience

    def _described(self) -> Dict[str, Any]:
        """Fields shown in ``repr`` besides the audience (never a secret)."""
        return {}

    def __repr__(self) -> str:
        fields = {"audience": self._audience, **self._described()}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in fields.items())})"
