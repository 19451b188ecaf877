"""What an assertion source is: anything that, called, returns the current assertion."""

from __future__ import annotations

from typing import Awaitable, Callable, Protocol, Union, runtime_checkable


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
