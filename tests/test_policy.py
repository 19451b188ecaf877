"""The pure refresh policy shared by both credentials: windows, backoff, transitions."""

from __future__ import annotations

import pytest

from azure_wif_credential._policy import Action, RefreshPolicy, token_from_result
from azure_wif_credential._refresh import KeyState, begin_refresh, finish_refresh
from azure_wif_credential._tokens import CachedToken

POLICY = RefreshPolicy()


def state_with(issued: float, lifetime: float, refresh_on: float | None = None) -> KeyState:
    token = token_from_result(POLICY, issued, lifetime, refresh_on, "t")
    return KeyState(token=token)


def test_refresh_on_is_exactly_the_sts_refresh_in_when_sent() -> None:
    assert POLICY.refresh_on(1000, 1000 + 7200, sts_refresh_on=1000 + 3600) == 1000 + 3600


@pytest.mark.parametrize(
    ("lifetime", "expected_offset"),
    [
        (3600, 3000),  # expires_on - max(5 min, 10 min) = 50 min
        (86400, 72000),  # a day: lifetime/6 = 4 h before expiry
        (600, 300),  # expires - 5 min = half the lifetime
        (120, 60),  # expires - 5 min is before issue: not earlier than half the lifetime
    ],
)
def test_refresh_on_without_refresh_in_is_early_but_not_before_half_life(
    lifetime: int, expected_offset: int
) -> None:
    assert POLICY.refresh_on(1000, 1000 + lifetime) == 1000 + expected_offset


def test_no_token_means_wait() -> None:
    assert POLICY.decide(KeyState(), now=0) is Action.WAIT


def test_windows_fresh_advisory_mandatory_expired() -> None:
    state = state_with(issued=0, lifetime=3600)  # refresh_on 3000, mandatory from 3480
    assert POLICY.decide(state, 2999) is Action.SERVE
    assert POLICY.decide(state, 3000) is Action.SERVE_AND_REFRESH
    assert POLICY.decide(state, 3479) is Action.SERVE_AND_REFRESH
    assert POLICY.decide(state, 3480) is Action.WAIT
    assert POLICY.decide(state, 4000) is Action.WAIT


def test_a_token_shorter_lived_than_the_mandatory_window_is_served_until_refresh_on() -> None:
    state = state_with(issued=0, lifetime=100)  # refresh_on 50; the 2-minute window covers it all
    assert POLICY.decide(state, 49) is Action.SERVE
    assert POLICY.decide(state, 50) is Action.WAIT


def test_advisory_failure_backs_off_and_keeps_the_token() -> None:
    state = state_with(issued=0, lifetime=3600)
    lease = begin_refresh(state, POLICY, 3000)
    assert lease is not None
    assert begin_refresh(state, POLICY, 3000) is None, "a second caller must not start another refresh"
    delay = finish_refresh(state, lease, POLICY, 3000, None)
    assert 15 <= delay <= 30
    assert state.token is not None, "the old token is kept"
    assert POLICY.decide(state, 3000 + delay - 1) is Action.SERVE_DURING_BACKOFF
    assert POLICY.decide(state, 3000 + delay) is Action.SERVE_AND_REFRESH
    assert begin_refresh(state, POLICY, 3000 + delay) is not None, "after a failure the key is free again"


def test_backoff_doubles_from_30_seconds_to_a_5_minute_cap_with_jitter() -> None:
    upper = [POLICY.backoff(n, rand=1.0) for n in range(1, 8)]
    lower = [POLICY.backoff(n, rand=0.0) for n in range(1, 8)]
    assert upper == [30, 60, 120, 240, 300, 300, 300]
    assert lower == [15, 30, 60, 120, 150, 150, 150]


def test_success_resets_failures() -> None:
    state = state_with(issued=0, lifetime=3600)
    finish_refresh(state, begin_refresh(state, POLICY, 3000) or 0, POLICY, 3000, None)
    lease = begin_refresh(state, POLICY, 3100)
    assert lease is not None
    new = CachedToken(token="new", expires_on=7200, refresh_on=6600)
    finish_refresh(state, lease, POLICY, 3100, new)
    assert (state.token, state.failures, state.retry_at, state.refreshing) == (new, 0, 0.0, False)


def test_cached_token_repr_hides_the_token() -> None:
    token = CachedToken(token="secret-token-value", expires_on=1, refresh_on=1)
    assert "secret-token-value" not in repr(token)
    assert token.info.refresh_on == 1
    assert token.access_token.token == "secret-token-value"


def test_backoff_is_bounded_for_any_number_of_failures() -> None:
    for failures in (1_000, 1_025, 10_000, 1 << 40):
        assert 150 <= POLICY.backoff(failures) <= 300


def test_a_lease_older_than_refresh_timeout_is_taken_over_and_its_late_end_changes_nothing() -> None:
    state = state_with(issued=0, lifetime=3600)
    stuck = begin_refresh(state, POLICY, 3000)
    assert stuck is not None
    assert begin_refresh(state, POLICY, 3000 + POLICY.refresh_timeout - 1) is None
    taken = begin_refresh(state, POLICY, 3000 + POLICY.refresh_timeout)
    assert taken is not None and taken != stuck
    assert finish_refresh(state, stuck, POLICY, 3400, None) == 0.0, "a stale failure starts no backoff"
    assert state.refreshing and state.failures == 0, "the live lease is untouched"
