"""The jobs a CI-like token service knows: found by the plan and job ids in their URL, opened by a bearer."""

from __future__ import annotations

import threading
import uuid
from typing import Generic, Protocol, TypeVar

from ._server import Request


class _HasBearer(Protocol):
    @property
    def bearer_token(self) -> str: ...


JobT = TypeVar("JobT", bound=_HasBearer)


class CiJobs(Generic[JobT]):
    """Thread-safe registry of running jobs; each one's token URL names it, its bearer token opens it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, str], JobT] = {}

    def add(self, job: JobT) -> tuple[str, str]:
        """Register ``job``; returns the (plan id, job id) its token URL carries."""
        ids = (str(uuid.uuid4()), str(uuid.uuid4()))
        with self._lock:
            self._jobs[ids] = job
        return ids

    def authorized(self, request: Request) -> JobT | None:
        """The job the request's URL names, if the request carries that job's bearer token."""
        with self._lock:
            job = self._jobs.get((request.params["plan"], request.params["job"]))
        if job is None or not request.has_bearer(job.bearer_token):
            return None
        return job
