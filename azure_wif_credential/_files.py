"""Reading a file we do not control: a regular file only, opened without blocking, read bounded.

A path may be (or be swapped for) a FIFO that never delivers, a device that never ends, a directory
or a socket; opening with ``O_NONBLOCK`` and checking what was opened (``fstat``) means none of them
can hang or flood the caller, whatever happened between a ``stat`` and the ``open``.
"""

from __future__ import annotations

import os
import stat
from typing import Tuple


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


def open_regular(path: str, flags: int = os.O_RDONLY) -> Tuple[int, os.stat_result]:
    """An fd for the regular file at ``path`` (opened without blocking, with ``flags`` added; created
    0600 when they say so), and what fstat says of it; :class:`NotARegularFile` for anything else."""
    fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0), 0o600)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFile(path, kind_of(info.st_mode))
        return fd, info
    except BaseException:
        os.close(fd)
        raise


def read_bounded(fd: int, path: str, limit: int) -> bytes:
    """At most ``limit`` bytes from ``fd`` (closed afterwards); :class:`FileTooLarge` past the limit."""
    with os.fdopen(fd, "rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise FileTooLarge(f"{path} is larger than {limit} bytes")
    return data


def read_regular(path: str, limit: int) -> bytes:
    """At most ``limit`` bytes of the regular file at ``path``: :class:`NotARegularFile` for anything
    else, :class:`FileTooLarge` past the limit, and the OSError of the open itself (missing, denied)."""
    fd, _ = open_regular(path)
    return read_bounded(fd, path, limit)
