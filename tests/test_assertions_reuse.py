"""ReusedAssertion: keep an assertion while its exp is comfortably ahead, never one about to expire."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Iterator

import jwt
import pytest
from azure.core.exceptions import ClientAuthenticationError

from azure_wif_credential.assertions import ReusedAssertion

_KEY = "a-test-only-hmac-key-long-enough-for-hs256"


def assertion(lifetime: float, number: int = 0) -> str:
    now = time.time()
    claims = {"iss": "https://issuer.test", "sub": f"job-{number}", "aud": "api://AzureADTokenExchange"}
    return jwt.encode({**claims, "iat": int(now), "exp": int(now + lifetime)}, _KEY, algorithm="HS256")


class CountingSource:
    """A source minting a new assertion per call with the given lifetime."""

    def __init__(self, lifetime: float, delay: float = 0.0) -> None:
        self.lifetime = lifetime
        self.delay = delay
        self.calls = 0
        self._numbers = itertools.count(1)

    def __call__(self) -> str:
        self.calls += 1
        time.sleep(self.delay)
        return assertion(self.lifetime, next(self._numbers))

    def __repr__(self) -> str:
        return "CountingSource()"


def subject(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


def test_assertion_is_kept_while_its_exp_is_comfortably_ahead() -> None:
    source = CountingSource(lifetime=600)
    reused = ReusedAssertion(source, min_remaining=60)
    tokens = {reused() for _ in range(5)}
    assert len(tokens) == 1
    assert source.calls == 1


def test_an_assertion_within_min_remaining_of_exp_is_never_handed_out_again() -> None:
    source = CountingSource(lifetime=30)
    reused = ReusedAssertion(source, min_remaining=60)
    assert [subject(reused()) for _ in range(3)] == ["job-1", "job-2", "job-3"]
    assert source.calls == 3


def test_source_is_asked_again_once_the_kept_assertion_nears_exp() -> None:
    source = CountingSource(lifetime=3)
    reused = ReusedAssertion(source, min_remaining=1.5)
    first = reused()
    assert reused() == first  # 2-3 s left (exp has whole seconds): still comfortable
    exp = jwt.decode(first, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, exp - 1.4 - time.time()))
    assert subject(reused()) == "job-2"
    assert source.calls == 2


@pytest.mark.parametrize("token", ["opaque-token-without-claims", jwt.encode({"sub": "no-exp"}, _KEY)])
def test_assertion_without_readable_exp_is_never_reused(token: str) -> None:
    calls = []

    def source() -> str:
        calls.append(1)
        return token

    reused = ReusedAssertion(source)
    assert reused() == token
    assert reused() == token
    assert len(calls) == 2


def test_concurrent_callers_share_one_fetch() -> None:
    source = CountingSource(lifetime=600, delay=0.2)
    reused = ReusedAssertion(source)
    start = threading.Barrier(16)
    results: list[str] = []

    def caller() -> None:
        start.wait()
        results.append(reused())

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 16
    assert len(set(results)) == 1
    assert source.calls == 1


def test_failed_fetch_raises_to_its_caller_and_the_next_call_asks_again() -> None:
    outcomes: Iterator[str | Exception] = iter(
        [assertion(5), ClientAuthenticationError("endpoint down"), assertion(600, 3)]
    )

    def source() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    reused = ReusedAssertion(source)
    reused()  # 5 s left: not reusable with the default margin
    with pytest.raises(ClientAuthenticationError, match="endpoint down"):
        reused()
    assert subject(reused()) == "job-3"


def test_repr_shows_the_wrapped_source_and_margin_never_the_assertion() -> None:
    reused = ReusedAssertion(CountingSource(lifetime=600), min_remaining=90)
    token = reused()
    assert repr(reused) == "ReusedAssertion(CountingSource(), min_remaining=90)"
    assert token not in repr(reused)


def test_negative_margin_is_refused() -> None:
    with pytest.raises(ValueError, match="min_remaining"):
        ReusedAssertion(CountingSource(600), min_remaining=-1)
