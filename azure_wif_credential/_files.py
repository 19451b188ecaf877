"""Reading a file we do not control: a regular file only, opened without blocking, read bounded.

A path may be (or be swapped for) a FIFO that never delivers, a device that never ends, a directory
or a socket; opening with ``O_NONBLOCK`` and checking what was opened (``fstat``) means none of them
can hang or flood the caller, whatever happened between a ``stat`` and the ``open``.
"""

from __future__ import annotations

import os
import stat


class NotARegularFile(OSError):
    """The path is a directory, FIFO, socket or device (``kind`` says which)."""

    def __init__(self, path: str, kind: str) -> None:
        super().__init__(f"{path} is {kind}, not a regular file")
        self.kind = kind


class FileTooLarge(OSError):
    """The file holds more than the reader's limit."""


def kind_of(mode: int) -> str:
    """'a directory', 'a FIFO', ... for a file mode that is not a regular file's."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def read_regular(path: str, limit: int) -> bytes:
    """At most ``limit`` bytes of the regular file at ``path``: :class:`NotARegularFile` for anything
    else, :class:`FileTooLarge` past the limit, and the OSError of the open itself (missing, denied)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(fd, "rb") as file:
        mode = os.fstat(file.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFile(path, kind_of(mode))
        data = file.read(limit + 1)
    if len(data) > limit:
        raise FileTooLarge(f"{path} is larger than {limit} bytes")
    return data
