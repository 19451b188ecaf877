"""Retry-After is advice, not a sleep order, and an outage costs Entra a few requests per key.

A 429 or 503 says when to come back. Inside a call we wait for that at most a few seconds
(``MAX_IN_CALL_WAIT``); a longer wait ends the call at once with a typed, retryable error that says
when, and the key is *held* until then: callers with an unexpired token are served it, callers
without one get the last error at once, and no request leaves. Garbage, infinite or overflowing
values are no advice at all, never a raw ValueError or OverflowError. Every case runs on both
credentials, on the virtual clock."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Callable, Dict, Optional, Tuple

import pytest
from helpers import VirtualClock

from azure_wif_credential import TokenExchangeError
from azure_wif_credential._retry_after import MAX_IN_CALL_WAIT, MAX_RETRY_AFTER, retry_after
from azure_wif_credential.sandbox import Sandbox

from .conftest import STORAGE, Driver

THROTTLED = json.dumps(
    {
        "error": "temporarily_unavailable",
        "error_description": "AADSTS90055: TenantThrottlingError - There are too many pending requests.",
        "error_codes": [90055],
    }
).encode()
PERSISTENT = 500

#: Retry-After header → the seconds the caller's error says (None: no advice was readable).
ADVICE: Dict[str, Tuple[str, Optional[float]]] = {
    "an hour": ("3600", 3600.0),
    "a day": ("86400", 86400.0),
    "a year (clipped to a day)": ("31536000", MAX_RETRY_AFTER),
    "an HTTP date next year": ("<next year>", MAX_RETRY_AFTER),
    "infinite": ("inf", MAX_RETRY_AFTER),
    "1e400 (overflows a float)": ("1e400", MAX_RETRY_AFTER),
    "NaN": ("NaN", None),
    "garbage": ("soon, maybe", None),
    "a huge number of digits": ("9" * 5000, None),
}


def _header(value: str) -> str:
    if value == "<next year>":
        return email.utils.formatdate(time.time() + 366 * 86400, usegmt=True)
    return value


@pytest.mark.parametrize("case", list(ADVICE))
def test_retry_after_is_read_safely_and_bounded(case: str) -> None:
    header, expected = ADVICE[case]
    assert retry_after({"Retry-After": _header(header)}) == expected


@pytest.mark.parametrize("case", [c for c, (_, seconds) in ADVICE.items() if seconds is not None])
def test_a_long_retry_after_ends_the_call_at_once_with_a_typed_error_saying_when(
    case: str, flavour: str, sandbox: Sandbox, make_driver: Callable[..., Driver]
) -> None:
    header, expected = ADVICE[case]
    driver = make_driver(flavour, retry_total=3)  # in-call retries on: they must not sleep an hour
    sandbox.answer_next(status=429, body=THROTTLED, headers=[("Retry-After", _header(header))])
    with pytest.raises(TokenExchangeError) as caught:
        driver.get_token(STORAGE)
    assert sandbox.request_count("token") == 1, "no in-call retry for a wait longer than MAX_IN_CALL_WAIT"
    error = caught.value
    assert error.retryable and error.status_code == 429 and 90055 in error.error_codes
    assert error.retry_after is not None and abs(error.retry_after - (expected or 0)) < 5
    assert "Entra asked to try again in" in str(error)


@pytest.mark.parametrize("case", [c for c, (_, seconds) in ADVICE.items() if seconds is None])
def test_unreadable_retry_after_is_no_advice_and_never_a_raw_error(
    case: str, flavour: str, sandbox: Sandbox, make_driver: Callable[..., Driver], clock: VirtualClock
) -> None:
    header, _ = ADVICE[case]
    driver = make_driver(flavour, retry_total=1, retry_backoff_factor=0)
    sandbox.answer_next(2, status=429, body=THROTTLED, headers=[("Retry-After", header)])
    with pytest.raises(TokenExchangeError) as caught:
        driver.get_token(STORAGE)
    assert sandbox.request_count("token") == 2, "retried once, as without the header"
    assert caught.value.retryable
    clock.advance(60)
    assert sandbox.verify_access_token(driver.get_token(STORAGE).token)


def test_a_short_retry_after_is_waited_for_inside_the_call(
    flavour: str, sandbox: Sandbox, make_driver: Callable[..., Driver]
) -> None:
    assert MAX_IN_CALL_WAIT >= 1
    driver = make_driver(flavour, retry_total=3)
    sandbox.fail_next(1, status=429, retry_after=1)
    assert sandbox.verify_access_token(driver.get_token(STORAGE).token)
    assert sandbox.request_count("token") == 2


@pytest.mark.parametrize("state", ["no token", "expired"])
@pytest.mark.parametrize("status", [429, 503])
def test_an_outage_costs_one_request_per_hold_whatever_the_call_rate(
    state: str,
    status: int,
    flavour: str,
    sandbox: Sandbox,
    make_driver: Callable[..., Driver],
    clock: VirtualClock,
) -> None:
    driver = make_driver(flavour)  # retry_total=0: users who fail fast
    if state == "expired":
        driver.get_token(STORAGE)
        clock.advance(3700)
    before = sandbox.request_count("token")
    sandbox.fail_next(PERSISTENT, status=status, retry_after=1)
    outcomes = driver.concurrently(64, STORAGE)
    assert all(isinstance(o, TokenExchangeError) and o.retryable for o in outcomes), outcomes[:3]
    for _ in range(500):  # a busy service calling in a loop while the STS fails
        with pytest.raises(TokenExchangeError) as caught:
            driver.get_token(STORAGE)
        assert caught.value.retry_after is not None and caught.value.retry_after <= 1
        assert "Not tried again yet" in str(caught.value)
    assert sandbox.request_count("token") - before == 1, "one request for 564 calls within the hold"
    for _ in range(10):  # ten more seconds of outage: about one request per second
        clock.advance(1.0)
        assert all(isinstance(o, TokenExchangeError) for o in driver.concurrently(16, STORAGE))
    sent = sandbox.request_count("token") - before
    assert 2 <= sent <= 11, f"{sent} requests in 10 s of outage"
    sandbox.reset()
    clock.advance(31)  # past any hold
    assert sandbox.verify_access_token(driver.get_token(STORAGE).token), "recovers once Entra does"


def test_a_valid_token_is_served_while_retry_after_runs_also_in_the_mandatory_window(
    flavour: str, sandbox: Sandbox, make_driver: Callable[..., Driver], clock: VirtualClock
) -> None:
    driver = make_driver(flavour)
    first = driver.get_token(STORAGE)
    sandbox.fail_next(PERSISTENT, status=429, retry_after=60)
    clock.advance(3490)  # mandatory window (the token expires at 3600)
    assert driver.get_token(STORAGE).token == first.token, "the refresh failed; the valid token is served"
    assert driver.warnings.count >= 1, "with a WARNING"
    for _ in range(100):
        assert driver.get_token(STORAGE).token == first.token
    assert sandbox.request_count("token") == 2, "held for Entra's Retry-After: no request"
    clock.advance(61)  # the Retry-After has passed: one attempt, which fails; still valid, still served
    assert driver.get_token(STORAGE).token == first.token
    assert sandbox.request_count("token") == 3
    clock.advance(50)  # expired and held: the error, at once, saying when
    with pytest.raises(TokenExchangeError) as caught:
        driver.get_token(STORAGE)
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 60
    assert sandbox.request_count("token") == 3
    sandbox.reset()
    clock.advance(60)
    token = driver.get_token(STORAGE)
    assert token.token != first.token and token.expires_on > clock.now


# --- sandbox.throttle(): Entra's own throttling answers ------------------------------------------------


@pytest.mark.parametrize(("status", "code"), [(429, 90055), (503, 90024)])
def test_entras_throttling_without_a_token_says_the_code_and_when_to_come_back(
    status: int,
    code: int,
    flavour: str,
    sandbox: Sandbox,
    make_driver: Callable[..., Driver],
    clock: VirtualClock,
) -> None:
    driver = make_driver(flavour, retry_total=3)
    sandbox.throttle(status=status, retry_after=60)
    with pytest.raises(TokenExchangeError) as caught:
        driver.get_token(STORAGE)
    error = caught.value
    assert error.status_code == status and error.error_codes == [code] and error.retryable
    assert error.oauth_error == "temporarily_unavailable"
    assert error.retry_after == 60 and "Entra asked to try again in 60 s" in str(error)
    assert sandbox.request_count("token") == 1, "a 60 s Retry-After is not slept in the call"
    for _ in range(20):
        with pytest.raises(TokenExchangeError) as again:
            driver.get_token(STORAGE)
        assert again.value.error_codes == [code] and 0 < (again.value.retry_after or 0) <= 60
    assert sandbox.request_count("token") == 1, "held for Entra's Retry-After"
    clock.advance(60)
    assert sandbox.verify_access_token(driver.get_token(STORAGE).token)
    assert sandbox.request_count("token") == 2


def test_entras_throttling_in_the_advisory_window_keeps_serving_the_token(
    flavour: str, sandbox: Sandbox, make_driver: Callable[..., Driver], clock: VirtualClock
) -> None:
    driver = make_driver(flavour)
    first = driver.get_token(STORAGE)
    sandbox.throttle(5, retry_after=600)
    clock.advance(3400)  # advisory (mandatory from 3480): the background refresh is throttled
    assert driver.get_token(STORAGE).token == first.token
    driver.until(lambda: driver.warnings.count >= 1)
    assert sandbox.request_count("token") == 2
    clock.advance(100)  # mandatory now, still within Entra's Retry-After: served, no request
    for _ in range(10):
        assert driver.get_token(STORAGE).token == first.token
    assert sandbox.request_count("token") == 2


def test_reset_clears_throttles_still_queued(sandbox: Sandbox, make_driver: Callable[..., Driver]) -> None:
    sandbox.throttle(10)
    sandbox.reset()
    assert sandbox.verify_access_token(make_driver("sync").get_token(STORAGE).token)


def test_throttle_refuses_what_entra_does_not_answer(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="429"):
        sandbox.throttle(status=500)
    with pytest.raises(ValueError, match="retry_after"):
        sandbox.throttle(retry_after=-1)


def test_milliseconds_headers_are_bounded_after_conversion() -> None:
    assert retry_after({"retry-after-ms": "1500"}) == 1.5
    assert retry_after({"x-ms-retry-after-ms": "100000000"}) == MAX_RETRY_AFTER, "27 hours is read as a day"
    assert retry_after({"Retry-After": "soon", "retry-after-ms": "2000"}) == 2.0
