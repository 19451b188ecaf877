"""Assertion sources: small callables that each produce the workload's current assertion.

Any ``Callable[[], str]`` is a source; these are the ones we ship.
"""

from ._base import AssertionSource
from ._file import FileAssertion

__all__ = ["AssertionSource", "FileAssertion"]
