"""What the tests share: a virtual clock for the refresh windows, a counting assertion source, a
polling helper and a claims reader (one of each for the whole suite)."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, List

import jwt

from azure_wif_credential.sandbox import Sandbox

SUBJECT = "system:serviceaccount:default:web"


class VirtualClock:
    """A credential's clock (``RefreshPolicy(clock=...)``): starts at the wall clock, moves only when a
    test says so, so the refresh windows are reached without sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingAssertion:
    """An assertion source issuing a fresh sandbox assertion per call; counts the calls and keeps each
    assertion (leak scanners look for them)."""

    def __init__(self, sandbox: Sandbox, subject: str = SUBJECT, **claims: Any) -> None:
        self.sandbox, self.subject, self.claims = sandbox, subject, claims
        self.calls = 0
        self.issued: List[str] = []
        self._lock = threading.Lock()

    def __call__(self) -> str:
        token = self.sandbox.issue_assertion(subject=self.subject, **self.claims)
        with self._lock:
            self.calls += 1
            self.issued.append(token)
        return token


def unexpired(result: Any, now: float) -> Any:
    """``result`` (an AccessToken or AccessTokenInfo), after asserting it had not expired at ``now``:
    an expired token is never a token (the invariant every reliability table checks)."""
    assert result.expires_on > now, f"an expired token was returned: expires_on {result.expires_on} <= {now}"
    return result


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` (for background work on real threads) until it holds, at most ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


def claims_of(token: str) -> Dict[str, Any]:
    """A JWT's claims, unverified (the tests verify signatures through the sandbox where it matters)."""
    claims: Dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def pod_environment(monkeypatch: Any, sandbox: Sandbox, app: Any, path: Any, **extra: str) -> None:
    """Play an Azure Workload Identity pod: a projected token file for ``app`` at ``path`` and the
    variables the webhook sets (plus ``extra``)."""
    path.write_text(
        sandbox.issue_assertion(subject=SUBJECT if "subject" not in extra else extra.pop("subject"))
    )
    variables = {
        "AZURE_TENANT_ID": app.tenant_id,
        "AZURE_CLIENT_ID": app.client_id,
        "AZURE_FEDERATED_TOKEN_FILE": str(path),
        **extra,
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def sandbox_credential(sandbox: Sandbox, app: Any, subject: str = SUBJECT, **kwargs: Any) -> Any:
    """A FederatedTokenCredential for ``app`` on the sandbox, its assertions issued for ``subject``
    (``assertion=`` and ``kind=`` — e.g. the aio credential — may be given, as any other keyword)."""
    from azure_wif_credential import FederatedTokenCredential

    kind = kwargs.pop("kind", FederatedTokenCredential)
    kwargs.setdefault("assertion", lambda: sandbox.issue_assertion(subject=subject))
    kwargs.setdefault("authority", sandbox.authority)
    kwargs.setdefault("connection_verify", sandbox.ca_file)
    return kind(app.tenant_id, app.client_id, **kwargs)


def sandbox_fics(sandbox: Sandbox, admin: Any, subject: str, application: str, **kwargs: Any) -> Any:
    """FederatedIdentityCredentials of ``application`` on the sandbox's Graph, as the admin app ``admin``
    (whose assertions are issued for ``subject``). A context manager; close() also closes its credential."""
    from azure_wif_credential.trust import FederatedIdentityCredentials

    credential = sandbox_credential(sandbox, admin, subject)

    class Owned(FederatedIdentityCredentials):
        def close(self) -> None:
            super().close()
            credential.close()

    return Owned(
        credential,
        application=application,
        graph_endpoint=sandbox.graph_endpoint,
        connection_verify=sandbox.ca_file,
        **kwargs,
    )
