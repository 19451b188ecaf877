"""What both benchmark scripts share: a counting assertion source and the credentials' common arguments."""

from __future__ import annotations

import threading
from typing import Any, Dict

from azure_wif_credential.sandbox import Sandbox


class Counter:
    """An assertion source that counts how often it is asked (one pre-issued, hour-long assertion)."""

    def __init__(self, sandbox: Sandbox, subject: str) -> None:
        self.calls = 0
        self._lock = threading.Lock()
        self._assertion = sandbox.issue_assertion(subject=subject, lifetime=3600)

    def __call__(self) -> str:
        with self._lock:
            self.calls += 1
        return self._assertion


def sandbox_options(sandbox: Sandbox) -> Dict[str, Any]:
    """Keywords every credential under test gets: the sandbox's authority and CA, no pipeline retries
    (so request counts are exact)."""
    return {"authority": sandbox.authority, "connection_verify": sandbox.ca_file, "retry_total": 0}
