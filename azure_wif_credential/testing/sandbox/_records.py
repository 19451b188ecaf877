"""What the sandbox remembers about the requests it served, with secrets kept out of every repr."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Mapping

from ..._redact import REDACTED

#: Form fields and headers whose values are credentials (compared lower-case).
SECRET_NAMES = frozenset(
    {
        "client_assertion",
        "assertion",
        "access_token",
        "authorization",
        "client_secret",
        "refresh_token",
        "id_token",
        "proxy-authorization",
        "cookie",
    }
)


def redact(values: Mapping[str, str] | None) -> dict[str, str] | None:
    """A copy of ``values`` with every secret replaced by a placeholder."""
    if values is None:
        return None
    return {name: REDACTED if name.lower() in SECRET_NAMES else value for name, value in values.items()}


@dataclass(frozen=True, repr=False, eq=False)
class RecordedRequest:
    """One request the sandbox received.

    ``status`` is None when the sandbox dropped the connection without answering. ``form`` holds the
    url-encoded body, and ``headers`` keep credential values, only when the sandbox was created with
    ``record_bodies=True``; ``repr``/``str`` always redact credentials.
    """

    endpoint: str
    method: str
    path: str
    status: int | None
    tenant: str | None
    form: dict[str, str] | None
    query: dict[str, str]
    headers: dict[str, str]
    client_id: str | None
    error_code: int | None  # the AADSTS code when the sandbox answered with an Entra error
    received_at: float  # time.time() when the request arrived

    def __repr__(self) -> str:
        return (
            f"RecordedRequest(endpoint={self.endpoint!r}, method={self.method!r}, path={self.path!r}, "
            f"status={self.status!r}, tenant={self.tenant!r}, client_id={self.client_id!r}, "
            f"error_code={self.error_code!r}, form={redact(self.form)!r}, query={redact(self.query)!r}, "
            f"headers={redact(self.headers)!r})"
        )

    __str__ = __repr__


class Recorder:
    """A thread-safe log of RecordedRequest, and a count of requests still being answered, per endpoint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._in_flight: dict[str, int] = {}

    def started(self, endpoint: str) -> None:
        with self._lock:
            self._in_flight[endpoint] = self._in_flight.get(endpoint, 0) + 1

    def finished(self, endpoint: str) -> None:
        with self._lock:
            self._in_flight[endpoint] -= 1

    def in_flight(self, endpoint: str | None) -> int:
        with self._lock:
            if endpoint is None:
                return sum(self._in_flight.values())
            return self._in_flight.get(endpoint, 0)

    def add(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def list(self, endpoint: str | None) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self._requests if endpoint is None or r.endpoint == endpoint]

    def count(self, endpoint: str | None) -> int:
        with self._lock:
            return sum(1 for r in self._requests if endpoint is None or r.endpoint == endpoint)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
