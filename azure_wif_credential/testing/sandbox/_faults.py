"""Faults a test can inject per endpoint: failed responses, raw answers, dropped connections, added latency."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Failure:
    """Answer with this HTTP status (and Entra-shaped error body) instead of serving the request."""

    status: int
    retry_after: int | None = None
    error: str | None = None  # OAuth error; default chosen from the status
    code: int | None = None  # AADSTS code; default chosen from the status


@dataclass(frozen=True)
class Drop:
    """Close the connection without sending any response."""


@dataclass(frozen=True)
class Raw:
    """Answer exactly this (any status, any bytes): for what a broken or hostile far side sends.

    In ``body``, the placeholders ``{assertion}`` and ``{authorization}`` become the request's
    ``client_assertion`` form field and its bearer token: an answer that echoes the caller's secret.
    """

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json; charset=utf-8"


Fault = Union[Failure, Drop, Raw]


@dataclass
class _Pending:
    fault: Fault
    remaining: int


class FaultPlan:
    """Queued one-shot faults (first in, first out) and standing latency, per endpoint name.

    A request held by latency waits until the endpoint's *current* latency has passed since it
    arrived: lowering or clearing the latency releases the requests already waiting.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queued: dict[str, deque[_Pending]] = {}
        self._latency: dict[str, float] = {}

    def queue(self, endpoint: str, fault: Fault, count: int) -> None:
        if count < 1:
            raise ValueError(f"count must be at least 1, not {count}")
        with self._lock:
            self._queued.setdefault(endpoint, deque()).append(_Pending(fault, count))

    def set_latency(self, endpoint: str, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"latency must not be negative, not {seconds}")
        with self._changed:
            if seconds:
                self._latency[endpoint] = seconds
            else:
                self._latency.pop(endpoint, None)
            self._changed.notify_all()

    def hold(self, endpoint: str, since: float, stopping: threading.Event) -> None:
        """Wait while ``endpoint``'s latency hasn't passed since ``since`` (monotonic), unless stopping."""
        with self._changed:
            while not stopping.is_set():
                remaining = since + self._latency.get(endpoint, 0.0) - time.monotonic()
                if remaining <= 0:
                    return
                self._changed.wait(remaining)

    def wake(self) -> None:
        """Let every held request re-check its wait (call after setting the stopping event)."""
        with self._changed:
            self._changed.notify_all()

    def take(self, endpoint: str) -> Fault | None:
        """The fault to apply to this request, if any (consumed)."""
        with self._lock:
            queue = self._queued.get(endpoint)
            if not queue:
                return None
            pending = queue[0]
            pending.remaining -= 1
            if pending.remaining <= 0:
                queue.popleft()
            return pending.fault

    def clear(self) -> None:
        with self._changed:
            self._queued.clear()
            self._latency.clear()
            self._changed.notify_all()
