"""The token-file source: Kubernetes projected service-account tokens and anything that writes a file."""

from __future__ import annotations

import os
import threading
from typing import Optional, Tuple

from .._errors import credential_unavailable

_Stamp = Tuple[int, int, int, int]  # device, inode, size, mtime_ns


class FileAssertion:
    """Reads the assertion from ``path`` at every call.

    kubelet refreshes a projected token by swapping a symlink, so the file is opened by path each
    time; when ``os.stat`` shows the same file (device, inode, size, mtime) as last time, the text
    read then is reused. Surrounding whitespace is stripped. A missing, empty or unreadable file
    raises :class:`~azure.identity.CredentialUnavailableError` naming the path and the reason.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = os.fspath(path)
        self._lock = threading.Lock()
        self._stamp: Optional[_Stamp] = None
        self._text = ""

    @property
    def path(self) -> str:
        return self._path

    def __repr__(self) -> str:
        return f"FileAssertion({self._path!r})"

    def __call__(self) -> str:
        try:
            st = os.stat(self._path)
            stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            with self._lock:
                if stamp == self._stamp:
                    return self._text
            with open(self._path, encoding="utf-8") as f:
                text = f.read().strip()
        except FileNotFoundError:
            raise credential_unavailable(
                f"The federated token file {self._path!r} does not exist. Check "
                "AZURE_FEDERATED_TOKEN_FILE (or token_file=) and, on Kubernetes, that the pod uses a "
                "service account with the azure.workload.identity/use label so the token is projected."
            ) from None
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
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
