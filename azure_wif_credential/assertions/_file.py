"""The token-file source: Kubernetes projected service-account tokens and anything that writes a file."""

from __future__ import annotations

import os
import stat
import threading
from typing import Optional, Tuple

from .._errors import credential_unavailable
from .._files import FileTooLarge, NotARegularFile, kind_of, read_regular

_Stamp = Tuple[int, int, int, int]  # device, inode, size, mtime_ns
#: A JWT is a few KiB; a larger file is not a token file.
MAX_TOKEN_FILE_BYTES = 64 * 1024


class FileAssertion:
    """Reads the assertion from ``path`` at every call.

    kubelet refreshes a projected token by swapping a symlink, so the file is opened by path each
    time; when ``os.stat`` shows the same file (device, inode, size, mtime) as last time, the text
    read then is reused. Surrounding whitespace is stripped. A missing, empty or unreadable file
    raises :class:`~azure.identity.CredentialUnavailableError` naming the path and the reason.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"token_file must be a path (str or os.PathLike), not {type(path).__name__}")
        self._path = os.fspath(path)
        if not isinstance(self._path, str) or not self._path.strip() or "\0" in self._path:
            raise ValueError(
                f"token_file must be a non-empty path without NUL characters, got {self._path!r}"
            )
        self._lock = threading.Lock()
        self._stamp: Optional[_Stamp] = None
        self._text = ""

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    @property
    def path(self) -> str:
        return self._path

    def __repr__(self) -> str:
        return f"FileAssertion({self._path!r})"

    def __call__(self) -> str:
        try:
            st = os.stat(self._path)
            if not stat.S_ISREG(st.st_mode):
                raise NotARegularFile(self._path, kind_of(st.st_mode))
            stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            with self._lock:
                if stamp == self._stamp:
                    return self._text
            text = self._read()
        except FileNotFoundError:
            raise credential_unavailable(
                f"The federated token file {self._path!r} does not exist. Check "
                "AZURE_FEDERATED_TOKEN_FILE (or token_file=) and, on Kubernetes, that the pod uses a "
                "service account with the azure.workload.identity/use label so the token is projected."
            ) from None
        except UnicodeDecodeError:
            raise credential_unavailable(
                f"The federated token file {self._path!r} is not UTF-8 text: it must hold the JWT itself."
            ) from None
        except NotARegularFile as error:
            raise credential_unavailable(
                f"The federated token file {self._path!r} is {error.kind}; it must be a regular file holding "
                "the JWT (check AZURE_FEDERATED_TOKEN_FILE or token_file=)."
            ) from None
        except OSError as error:
            reason = error.strerror or type(error).__name__
            raise credential_unavailable(
                f"The federated token file {self._path!r} could not be read: {reason}."
            ) from None
        if not text:
            raise credential_unavailable(
                f"The federated token file {self._path!r} is empty. Its writer (kubelet, a CI "
                "step, the sandbox) has not produced a token yet."
            )
        with self._lock:
            self._stamp, self._text = stamp, text
        return text

    def _read(self) -> str:
        """The file's text, opened without blocking (a FIFO swapped in after the stat cannot hang us)
        and read up to :data:`MAX_TOKEN_FILE_BYTES`."""
        try:
            data = read_regular(self._path, MAX_TOKEN_FILE_BYTES)
        except FileTooLarge:
            raise credential_unavailable(
                f"The federated token file {self._path!r} is larger than {MAX_TOKEN_FILE_BYTES} bytes: "
                "it must hold one JWT (a few KiB). Is the path right?"
            ) from None
        return data.decode("utf-8").strip()
