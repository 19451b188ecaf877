"""Nothing wedges: after any number of failures, and whatever happens inside a refresh (an interrupt,
a hung source, a bug in the bookkeeping), the key is free again and the next call can succeed."""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any, Callable, List

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError
from helpers import VirtualClock

from azure_wif_credential._policy import RefreshPolicy
from azure_wif_credential.sandbox import Sandbox

from .conftest import STORAGE, Driver, SandboxAssertion

FAILURES = 10_000


def test_ten_thousand_consecutive_failures_then_recovery(
    flavour: str, sandbox: Sandbox, make_driver: Callable[..., Driver], clock: VirtualClock, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    driver = make_driver(flavour, token_file=str(token_file))
    for _ in range(FAILURES):
        with pytest.raises(CredentialUnavailableError):
            driver.get_token(STORAGE)
        clock.advance(1)  # a service retrying every second, for hours
    token_file.write_text(sandbox.issue_assertion(subject="system:serviceaccount:reliability:worker"))
    clock.advance(RefreshPolicy().hold_max)  # past the key's hold after the last failure
    assert sandbox.verify_access_token(driver.get_token(STORAGE).token)


def test_ten_thousand_failed_background_refreshes_keep_serving_then_recover(
    flavour: str, sandbox: Sandbox, make_driver: Callable[..., Driver], clock: VirtualClock
) -> None:
    failing = {"on": False}
    source = SandboxAssertion(sandbox)

    def assertion() -> str:
        if failing["on"]:
            raise OSError("the identity provider is down")
        return source()

    # Backoff in milliseconds so thousands of background refreshes fit in the advisory window.
    policy = RefreshPolicy(
        clock=clock, backoff_initial=0.001, backoff_max=0.002, hold_initial=0.001, hold_max=0.002
    )
    driver = make_driver(flavour, assertion=assertion, refresh_policy=policy)
    first = driver.get_token(STORAGE)
    failing["on"] = True
    clock.advance(3100)  # advisory window: every refresh fails in the background
    for n in range(1, 2001):  # past the ~1,025 failures where unbounded backoff arithmetic overflows
        assert driver.get_token(STORAGE).token == first.token
        driver.until(functools.partial(lambda n: driver.warnings.count >= n, n))
        clock.advance(0.01)
    failing["on"] = False
    clock.advance(600)  # expired: the next call must refresh, and succeed
    assert sandbox.verify_access_token(driver.get_token(STORAGE).token)


def test_a_keyboard_interrupt_in_the_leader_releases_every_waiter_and_frees_the_key(
    sandbox: Sandbox, make_driver: Callable[..., Driver]
) -> None:
    gate, entered = threading.Event(), threading.Event()
    source = SandboxAssertion(sandbox)
    calls: List[int] = []

    def assertion() -> str:
        calls.append(1)
        if len(calls) == 1:
            entered.set()
            gate.wait(10)
            raise KeyboardInterrupt
        return source()

    driver = make_driver("sync", assertion=assertion)
    outcomes: List[Any] = []

    def wait() -> None:
        try:
            outcomes.append(driver.get_token(STORAGE))
        except BaseException as error:
            outcomes.append(error)

    leader = threading.Thread(target=wait)
    leader.start()
    assert entered.wait(10)
    waiters = [threading.Thread(target=wait) for _ in range(8)]
    for thread in waiters:
        thread.start()
    gate.set()
    for thread in [leader, *waiters]:
        thread.join(20)
    assert len(outcomes) == 9, "every caller returned"
    assert sum(isinstance(o, KeyboardInterrupt) for o in outcomes) == 1, "the interrupt stays with its thread"
    assert all(isinstance(o, (KeyboardInterrupt, ClientAuthenticationError)) for o in outcomes)
    assert sandbox.verify_access_token(driver.get_token(STORAGE).token), "the key is free again"


def test_a_hung_source_holds_the_key_only_for_refresh_timeout(
    flavour: str, sandbox: Sandbox, make_driver: Callable[..., Driver], clock: VirtualClock
) -> None:
    release = threading.Event()
    source = SandboxAssertion(sandbox)
    hung = {"on": False}

    def assertion() -> str:
        if hung["on"]:
            hung["on"] = False
            release.wait(30)  # a source that hangs (until the test lets it go)
        return source()

    policy = RefreshPolicy(clock=clock, refresh_timeout=60)
    driver = make_driver(flavour, assertion=assertion, refresh_policy=policy)
    first = driver.get_token(STORAGE)
    hung["on"] = True
    clock.advance(3100)
    try:
        assert driver.get_token(STORAGE).token == first.token  # starts the background refresh that hangs
        clock.advance(400)  # mandatory window, and the hung lease is long past refresh_timeout
        assert sandbox.verify_access_token(driver.get_token(STORAGE).token), "a new lease took over"
    finally:
        release.set()


class ExplodingPolicy(RefreshPolicy):
    def backoff(self, failures: int, rand: Any = None) -> float:
        raise ZeroDivisionError("a bug in the bookkeeping")

    def hold(self, failures: int, rand: Any = None) -> float:
        raise ZeroDivisionError("a bug in the bookkeeping")


def test_a_bug_in_the_backoff_bookkeeping_still_frees_the_key(
    flavour: str, sandbox: Sandbox, make_driver: Callable[..., Driver], clock: VirtualClock, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    driver = make_driver(flavour, token_file=str(token_file), refresh_policy=ExplodingPolicy(clock=clock))
    for _ in range(3):
        with pytest.raises(CredentialUnavailableError):
            driver.get_token(STORAGE)
    token_file.write_text(sandbox.issue_assertion(subject="system:serviceaccount:reliability:worker"))
    clock.advance(RefreshPolicy().hold_max)  # the hold fell back to its cap
    assert sandbox.verify_access_token(driver.get_token(STORAGE).token)


def test_close_is_bounded_even_while_a_background_refresh_hangs(
    sandbox: Sandbox, make_driver: Callable[..., Driver], clock: VirtualClock
) -> None:
    release, entered = threading.Event(), threading.Event()
    source = SandboxAssertion(sandbox)
    hung = {"on": False}

    def assertion() -> str:
        if hung["on"]:
            entered.set()
            release.wait(30)
        return source()

    driver = make_driver(
        "sync", assertion=assertion, refresh_policy=RefreshPolicy(clock=clock, refresh_timeout=0.5)
    )
    first = driver.get_token(STORAGE)
    hung["on"] = True
    clock.advance(3100)
    try:
        assert driver.get_token(STORAGE).token == first.token  # the background refresh hangs in the source
        assert entered.wait(10)
        closer = threading.Thread(target=driver.credential.close)
        closer.start()
        closer.join(10)
        assert not closer.is_alive(), "close() returned although the source still hangs"
    finally:
        release.set()
