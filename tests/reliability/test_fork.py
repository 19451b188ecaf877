"""os.fork(): a credential used in a parent works in its forked children at once, with connections of
their own. Real forks (``os.fork`` and a ``multiprocessing`` fork pool); every wait is bounded, and a
child that wedges is killed and reported."""

from __future__ import annotations

import json
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
import warnings
from typing import Any, Callable, Dict, List, Optional

import pytest
from helpers import VirtualClock, claims_of, sandbox_credential, unexpired

from azure_wif_credential import FederatedTokenCredential
from azure_wif_credential._policy import RefreshPolicy
from azure_wif_credential.sandbox import Sandbox

from .conftest import SUBJECT, SandboxAssertion

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() is POSIX only")
STORAGE = "https://storage.azure.com/.default"
VAULT = "https://vault.azure.net/.default"
CHILD_DEADLINE = 20.0  # far below refresh_timeout (300 s): a wedged child cannot pass


def forked(child: Callable[[], Any]) -> Any:
    """Run ``child`` in a forked child; its JSON result, or AssertionError if it raised or wedged."""
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "multi-threaded process": the point here
        pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        try:
            os.close(read)
            message = json.dumps({"result": child()})
        except BaseException as error:
            message = json.dumps({"error": f"{type(error).__name__}: {error}"[:2000]})
        os.write(write, message.encode())
        os._exit(0)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], CHILD_DEADLINE)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"the child wedged: no answer within {CHILD_DEADLINE} s")
        data = b""
        while chunk := os.read(read, 65536):
            data += chunk
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    outcome = json.loads(data or b'{"error": "the child died"}')
    if "error" in outcome:
        raise AssertionError(f"in the child: {outcome['error']}")
    return outcome["result"]


@pytest.mark.parametrize("persistent", [False, True], ids=["in memory", "host cache"])
def test_a_refresh_in_flight_at_fork_does_not_wedge_the_child(
    persistent: bool, sandbox: Sandbox, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    options: Dict[str, Any] = {}
    if persistent:
        from azure.identity import TokenCachePersistenceOptions

        monkeypatch.setenv("HOME", str(tmp_path))
        options["cache_persistence_options"] = TokenCachePersistenceOptions(
            name="fork", allow_unencrypted_storage=True
        )
    app = sandbox.register_app(subject=SUBJECT)
    parent, entered, gate = os.getpid(), threading.Event(), threading.Event()
    source = SandboxAssertion(sandbox)
    for_the_child = source()  # issued here: the sandbox's issuer keys live in this process

    def assertion() -> str:
        if os.getpid() != parent:
            return for_the_child
        entered.set()  # the parent's refresh hangs in its source while the child is forked
        gate.wait(30)
        return source()

    credential = sandbox_credential(sandbox, app, assertion=assertion, retry_total=0, **options)
    caller = threading.Thread(target=lambda: credential.get_token(STORAGE))
    caller.start()
    try:
        assert entered.wait(10)
        token = forked(lambda: unexpired(credential.get_token(STORAGE), time.time()).token)
        assert sandbox.verify_access_token(token), "the child got its own token at once"
    finally:
        gate.set()
        caller.join(30)
        credential.close()


def test_a_worker_pool_idle_at_fork_runs_the_childs_background_refresh(sandbox: Sandbox) -> None:
    app = sandbox.register_app(subject=SUBJECT)
    clock = VirtualClock()
    credential = sandbox_credential(
        sandbox,
        app,
        assertion=SandboxAssertion(sandbox),
        retry_total=0,
        refresh_policy=RefreshPolicy(clock=clock),
    )
    first = credential.get_token(STORAGE).token
    clock.advance(3100)  # advisory: the refresh runs on the pool, whose worker then idles
    assert credential.get_token(STORAGE).token == first
    deadline = time.monotonic() + 10
    while credential.get_token(STORAGE).token == first and time.monotonic() < deadline:
        time.sleep(0.01)
    second = credential.get_token(STORAGE).token
    assert second != first

    def child() -> str:
        clock.advance(3100)  # advisory again, in the child: its background refresh must run
        assert credential.get_token(STORAGE).token == second
        limit = time.monotonic() + 10
        while time.monotonic() < limit:
            token: str = unexpired(credential.get_token(STORAGE), clock.now).token
            if token != second:
                return token
            time.sleep(0.01)
        raise AssertionError("the child's background refresh never ran")

    try:
        assert sandbox.verify_access_token(forked(child))
    finally:
        credential.close()


def _tokens_for(credential: FederatedTokenCredential, scope: str, rounds: int) -> List[str]:
    """The audience of each token a claims challenge (always a request) brings for ``scope``."""
    tokens = [credential.get_token(scope, claims='{"access_token": {}}') for _ in range(rounds)]
    return [claims_of(unexpired(token, time.time()).token)["aud"] for token in tokens]


def test_parent_and_child_never_read_each_others_answers(sandbox: Sandbox) -> None:
    app = sandbox.register_app(subject=SUBJECT)
    credential = sandbox_credential(sandbox, app, assertion=SandboxAssertion(sandbox), retry_total=0)
    credential.get_token(STORAGE)  # a pooled keep-alive connection to the STS, inherited by the child
    rounds = 40
    mine: Dict[str, List[str]] = {}
    parent_side = threading.Thread(
        target=lambda: mine.setdefault("aud", _tokens_for(credential, STORAGE, rounds))
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            # The parent's calls start as the child's do: both would use the one inherited connection.
            parent_side.start()
            theirs = forked(lambda: _tokens_for(credential, VAULT, rounds))
        parent_side.join(60)
        assert theirs == ["https://vault.azure.net"] * rounds, "the child only ever got its own answers"
        assert mine["aud"] == ["https://storage.azure.com"] * rounds, "the parent only ever got its own"
    finally:
        credential.close()


_POOL_CREDENTIAL: Optional[FederatedTokenCredential] = None


def _pool_worker(scope: str) -> Any:
    assert _POOL_CREDENTIAL is not None
    return os.getpid(), claims_of(_POOL_CREDENTIAL.get_token(scope, claims='{"access_token": {}}').token)[
        "aud"
    ]


@pytest.mark.skipif(sys.platform == "darwin", reason="fork pools are unsafe on macOS")
def test_a_multiprocessing_fork_pool_uses_a_credential_made_before_it(sandbox: Sandbox) -> None:
    global _POOL_CREDENTIAL
    app = sandbox.register_app(subject=SUBJECT)
    _POOL_CREDENTIAL = sandbox_credential(sandbox, app, assertion=SandboxAssertion(sandbox), retry_total=0)
    try:
        _POOL_CREDENTIAL.get_token(STORAGE)
        scopes = [STORAGE, VAULT, "https://management.azure.com/.default"] * 8
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            with multiprocessing.get_context("fork").Pool(3) as pool:
                outcome = pool.map_async(_pool_worker, scopes).get(timeout=60)
        assert [aud for _, aud in outcome] == [s.rsplit("/.default", 1)[0] for s in scopes]
        assert len({pid for pid, _ in outcome} - {os.getpid()}) >= 1
    finally:
        _POOL_CREDENTIAL.close()
        _POOL_CREDENTIAL = None
