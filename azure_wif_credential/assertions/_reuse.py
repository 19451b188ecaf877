"""Reuse an assertion while its expiry is comfortably ahead, so a token endpoint is asked once per lifetime."""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional, Tuple

from .._claims import describe_assertion, unverified_claims
from .._fork import after_fork_of
from .._redact import get_logger

_LOGGER = get_logger(__name__)

#: Default margin: an assertion with less than this many seconds left is never handed out again.
DEFAULT_MIN_REMAINING = 60.0


class ReusedAssertion:
    """Wraps a source and hands out its last assertion until that one nears its ``exp``.

    The wrapped source is called when there is no assertion yet, or when the last one's unverified
    ``exp`` is less than ``min_remaining`` seconds away (by the local clock); then its answer is handed
    out. An assertion without a readable ``exp`` is never reused. One fetch runs at a time: threads that
    arrive meanwhile wait for it and share its assertion. A failing fetch raises to its caller and
    keeps nothing.

    Meant for network sources (:class:`GitHubActionsAssertion`, :class:`AzurePipelinesAssertion`,
    :class:`CommandAssertion`), so their endpoint or program is asked about once per token lifetime.

    :param source: any callable returning an assertion.
    :keyword min_remaining: seconds of validity an assertion must still have to be handed out again.
    """

    def __init__(self, source: Callable[[], str], *, min_remaining: float = DEFAULT_MIN_REMAINING) -> None:
        if not callable(source):
            raise TypeError(f"ReusedAssertion wraps a callable source, not {type(source).__name__}")
        if min_remaining < 0:
            raise ValueError(f"min_remaining must be >= 0 seconds, not {min_remaining!r}")
        self._source = source
        self._min_remaining = float(min_remaining)
        self._lock = threading.Lock()
        self._kept: Optional[Tuple[str, float]] = None  # (assertion, exp)

    @property
    def source(self) -> Callable[[], str]:
        return self._source

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        after_fork_of(self._source)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._source!r}, min_remaining={self._min_remaining:g})"

    def __call__(self) -> str:
        kept = self._reusable()
        if kept is not None:
            return kept
        with self._lock:
            kept = self._reusable()  # fetched by the thread we waited for
            if kept is not None:
                return kept
            self._kept = None
            assertion = self._source()
            claims = unverified_claims(assertion)
            exp = claims.get("exp")
            if isinstance(exp, (int, float)) and not isinstance(exp, bool):
                self._kept = (assertion, float(exp))
            _LOGGER.debug(
                "New assertion from %r (%s); reused until %g s before exp",
                self._source,
                describe_assertion(claims),
                self._min_remaining,
            )
            return assertion

    def _reusable(self) -> Optional[str]:
        kept = self._kept
        if kept is not None and kept[1] - time.time() > self._min_remaining:
            return kept[0]
        return None
