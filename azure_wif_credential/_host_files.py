"""The host cache's files, trusted only when they are ours: OpenSSH's standard for a user's files.

The cache holds access tokens. On a shared host another local user must not be able to read them
(a symbolic link at our file or directory pointing somewhere they can read), plant one for us to serve
(a document in a directory they can write), or have us overwrite a file of theirs. So:

* the directory must be a real directory (not a link), owned by this user and writable by no one else;
  it is created ``0700`` whatever the umask;
* a document is opened with ``O_NOFOLLOW`` and what was opened is checked (``fstat``): a regular file,
  owned by this user, one link, writable by no one else; it is written to a new ``0600``
  file in that directory and renamed over the old one (readers never see a torn document);
* a lock is an OS lock (``flock`` through portalocker) on a ``0600`` file opened the same way, taken
  without blocking and retried until a deadline: a holder that died released it with its process, a
  live holder costs a bounded wait, and nothing is written to the lock file (a full disk cannot leave
  a lock held). Lock files are never deleted: deleting a lock file lets two processes hold "the" lock.

Anything else raises :class:`Untrusted` (with the reason, for the one WARNING) or ``OSError``.
msal-extensions' own ``FilePersistence`` and ``CrossPlatLock`` follow links, create with the umask,
wait up to 10 s per lock and write the lock file; hence this module.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from typing import BinaryIO, Optional

from ._files import NotARegularFile, open_regular, read_bounded

#: How long a lock is waited for at most: then the caller goes on without the host cache.
POLL_START, POLL_MAX = 0.005, 0.1


class Untrusted(Exception):
    """A path the cache will not use; the message says why (no secret in it: paths and owners)."""


def _uid() -> Optional[int]:
    return os.geteuid() if hasattr(os, "geteuid") else None  # no owners to check on Windows


def _check_owner(path: str, info: os.stat_result, what: str) -> None:
    uid = _uid()
    if uid is not None and info.st_uid != uid:
        raise Untrusted(f"{what} {path} is owned by uid {info.st_uid}, not by this user (uid {uid})")


def trusted_directory(path: str) -> None:
    """Create ``path`` (0700, whatever the umask) if it is missing; :class:`Untrusted` unless it is a
    directory (not a link) owned by this user and writable by no one else."""
    try:
        os.mkdir(path, 0o700)
        os.chmod(path, 0o700)  # the umask narrowed nothing away from 0700, but a umask of 000 ...
    except FileExistsError:
        pass
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise Untrusted(f"the cache directory {path} is a symbolic link")
    if not stat.S_ISDIR(info.st_mode):
        raise Untrusted(f"the cache directory {path} is not a directory")
    _check_owner(path, info, "the cache directory")
    if _uid() is not None and info.st_mode & 0o022:
        raise Untrusted(
            f"the cache directory {path} is writable by other users (mode {stat.S_IMODE(info.st_mode):o}); "
            "make it 0700"
        )


def _open(path: str, flags: int, what: str) -> int:
    """An fd for ``path``, opened without following a link or blocking, and checked with fstat."""
    try:
        fd, info = open_regular(path, flags | getattr(os, "O_NOFOLLOW", 0))
    except NotARegularFile as error:
        raise Untrusted(f"{what} {path} is {error.kind}, not a regular file") from None
    except OSError as error:
        if os.path.islink(path):
            raise Untrusted(f"{what} {path} is a symbolic link") from None
        raise error
    try:
        _check_owner(path, info, what)
        if _uid() is not None:
            if info.st_nlink != 1:
                raise Untrusted(f"{what} {path} has {info.st_nlink} hard links")
            if info.st_mode & 0o022:
                raise Untrusted(
                    f"{what} {path} is writable by other users (mode {stat.S_IMODE(info.st_mode):o})"
                )
        return fd
    except BaseException:
        os.close(fd)
        raise


def read_document(path: str, limit: int) -> Optional[bytes]:
    """The document's bytes (at most ``limit``; more is FileTooLarge), None when there is none."""
    try:
        fd = _open(path, os.O_RDONLY, "the cache file")
    except FileNotFoundError:
        return None
    return read_bounded(fd, path, limit)


def write_document(path: str, data: bytes) -> None:
    """Replace the document atomically with a new 0600 file holding ``data`` (OSError on failure, e.g.
    ENOSPC: the old document stays as it was and nothing is left behind)."""
    temporary = f"{path}.{os.getpid()}.{time.monotonic_ns()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            if hasattr(os, "fchmod"):
                os.fchmod(file.fileno(), 0o600)  # whatever the umask
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class HostLock:
    """An exclusive OS lock on ``path`` shared by every process of this user: :meth:`acquire` waits at
    most ``seconds`` (False then); :meth:`release` never blocks and never raises."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: Optional[BinaryIO] = None
        self.held = False

    def acquire(self, seconds: float) -> bool:
        import portalocker

        fd = _open(self.path, os.O_RDWR | os.O_CREAT, "the lock file")
        file = os.fdopen(fd, "rb+", buffering=0)
        deadline, pause = time.monotonic() + max(0.0, seconds), POLL_START
        while True:
            try:
                portalocker.lock(file, portalocker.LOCK_EX | portalocker.LOCK_NB)
                self._file, self.held = file, True
                return True
            except portalocker.exceptions.LockException:
                if time.monotonic() >= deadline:
                    file.close()
                    return False
                time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
                pause = min(POLL_MAX, pause * 2)
            except BaseException:
                file.close()
                raise

    def release(self) -> None:
        file, self._file, self.held = self._file, None, False
        if file is None:
            return
        import portalocker

        with contextlib.suppress(Exception):
            portalocker.unlock(file)
        with contextlib.suppress(OSError):
            file.close()  # closing releases the OS lock in any case
