"""A projected service account token file, kept fresh the way kubelet keeps it."""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from typing import Callable

#: kubelet rotates a projected token once 80% of its lifetime has passed.
REFRESH_FRACTION = 0.8


class TokenFile:
    """Writes ``issue()``'s assertion to ``path``, atomically, and rewrites it before it expires.

    Each write goes to a temporary file in the same directory, then ``os.replace`` puts it in place:
    a reader sees the old token or the new one, never a partial file.
    """

    def __init__(self, path: str, issue: Callable[[], str], *, lifetime: float) -> None:
        if lifetime <= 0:
            raise ValueError(f"the assertion lifetime must be positive, not {lifetime}")
        self.path = os.path.abspath(path)
        self._issue = issue
        self.refresh_interval = lifetime * REFRESH_FRACTION

    def write(self) -> None:
        directory = os.path.dirname(self.path)
        os.makedirs(directory, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=".token-")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as file:
                file.write(self._issue())
            os.chmod(temporary, 0o644)  # like a projected volume: readable by the workload
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def keep_fresh(self, stop: threading.Event) -> None:
        """Rewrite the file every ``refresh_interval`` seconds until ``stop`` is set."""
        while not stop.wait(self.refresh_interval):
            self.write()
