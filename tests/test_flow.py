"""The per-call flow, driven without I/O: which effects it asks for in each window, that every lease it
takes ends, and that the token-cache seam is what it reads and writes."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional, Tuple

import pytest
from helpers import CountingAssertion, VirtualClock

from azure_wif_credential import FederatedTokenCredential, TokenExchangeError
from azure_wif_credential._cache import MemoryTokenCache
from azure_wif_credential._flow import (
    Acquire,
    CallSource,
    Exchange,
    Flows,
    Load,
    Release,
    Run,
    Start,
    Steps,
    Store,
    Wait,
)
from azure_wif_credential._policy import RefreshPolicy, token_from_result
from azure_wif_credential._slots import Slot
from azure_wif_credential._tokens import CachedToken, CacheKey
from azure_wif_credential.aio import FederatedTokenCredential as AioFederatedTokenCredential
from azure_wif_credential.sandbox import Sandbox

KEY = CacheKey(("https://storage.azure.com/.default",), "tenant", False)
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
STORAGE = KEY.scopes[0]


class PureCore:
    """What the flow needs of a credential (``_flow.Core``: policy, source, exchange, token cache), with
    no I/O: the source answers a fixed JWT, exchanges answer at once, or fail."""

    def __init__(self, clock: VirtualClock) -> None:
        self.policy = RefreshPolicy(clock=clock)
        self.cache = MemoryTokenCache(shared=True)  # the seam's every effect shows
        self.fail: Optional[Exception] = None
        self.exchanges = 0
        self.exchange = PureExchange(self)

    def source(self) -> str:
        return JWT

    def new_token(self) -> CachedToken:
        return token_from_result(self.policy, self.policy.clock(), 3600, None, f"token-{self.exchanges}")


class PureExchange:
    """The pure core's exchanges: counted, answered at once, or failed with ``core.fail``."""

    def __init__(self, core: PureCore) -> None:
        self.core = core

    def exchange(self, key: CacheKey, assertion: str, claims: Optional[str] = None) -> CachedToken:
        self.core.exchanges += 1
        if self.core.fail is not None:
            raise self.core.fail
        return self.core.new_token()


def drive(core: PureCore, flow: Any) -> Tuple[Optional[CachedToken], List[str], Optional[BaseException]]:
    """Run a flow, performing each effect at once; the effects' names in order, and the outcome."""
    seen: List[str] = []

    def perform(effect: Any) -> Any:
        seen.append(type(effect).__name__)
        if isinstance(effect, (CallSource, Exchange, Load, Store, Acquire, Release)):
            return effect.call(core)
        if isinstance(effect, (Start, Run)):
            token, inner, failure = drive(core, effect.refresh)
            seen.extend(f"  {name}" for name in inner)
            if isinstance(effect, Start):
                return None  # a background refresh's failure stays in the background
            if failure is not None:
                raise failure
            return token
        raise AssertionError(effect)

    steps = Steps(flow)
    try:
        for effect in steps:
            steps.outcome(perform, effect)
    except Exception as error:
        return None, seen, error
    return steps.value, seen, None


@pytest.fixture
def core() -> PureCore:
    return PureCore(VirtualClock())


def test_no_token_the_caller_leads_one_refresh_through_the_cache(core: PureCore) -> None:
    slot = Slot(KEY)
    token, seen, error = drive(core, Flows(core).get_token(slot, None))
    assert error is None and token is not None
    assert seen == ["Run", "  Acquire", "  Load", "  CallSource", "  Exchange", "  Store", "  Release"]
    assert core.cache.get(KEY) == token and slot.state.token == token
    assert not slot.state.refreshing and slot.pending is not None and slot.pending.result() == token


def test_fresh_asks_for_nothing_advisory_starts_one_background_refresh(core: PureCore) -> None:
    slot = Slot(KEY)
    first, _, _ = drive(core, Flows(core).get_token(slot, None))
    assert first is not None
    assert drive(core, Flows(core).get_token(slot, None))[1] == []
    core.policy.clock.now = first.refresh_on + 1  # type: ignore[attr-defined]
    token, seen, _ = drive(core, Flows(core).get_token(slot, None))
    assert token == first, "the advisory window serves the cached token"
    assert seen[0] == "Start" and "  Exchange" in seen
    assert slot.state.token != first, "and the background refresh replaced it"


def test_a_failed_refresh_backs_off_serves_the_unexpired_token_and_then_holds_the_error(
    core: PureCore,
) -> None:
    slot = Slot(KEY)
    first, _, _ = drive(core, Flows(core).get_token(slot, None))
    assert first is not None
    clock: VirtualClock = core.policy.clock  # type: ignore[assignment]
    clock.now = first.refresh_on + 1
    core.fail = TokenExchangeError("Entra is down", retryable=True, retry_after=60)
    assert drive(core, Flows(core).get_token(slot, None))[0] == first
    assert slot.state.failures == 1 and slot.state.retry_at > clock.now
    assert drive(core, Flows(core).get_token(slot, None))[1] == [], "backing off: no attempt"
    clock.now = first.expires_on - 30  # mandatory: the refresh runs in the caller's time, and fails
    token, seen, error = drive(core, Flows(core).get_token(slot, None))
    assert token == first and seen[0] == "Run", "an unexpired token is served, not the error"
    assert not slot.state.refreshing, "the lease ended with the failure"
    assert slot.state.held_until == clock.now + 60, "Entra's Retry-After holds the key"
    assert drive(core, Flows(core).get_token(slot, None))[:2] == (first, []), "held: no attempt"
    clock.now = first.expires_on  # expired, still held: the last error at once, saying when
    token, seen, error = drive(core, Flows(core).get_token(slot, None))
    assert token is None and seen == [] and isinstance(error, TokenExchangeError)
    assert error.retry_after == 30 and "Entra is down" in str(error) and error is not core.fail
    clock.now += 30  # the hold is over: one new attempt
    token, seen, error = drive(core, Flows(core).get_token(slot, None))
    assert token is None and seen[0] == "Run" and isinstance(error, TokenExchangeError)


def test_a_claims_challenge_bypasses_the_lease_and_replaces_the_entry(core: PureCore) -> None:
    slot = Slot(KEY)
    first, _, _ = drive(core, Flows(core).get_token(slot, None))
    token, seen, _ = drive(core, Flows(core).get_token(slot, '{"access_token": {}}'))
    assert seen == ["CallSource", "Exchange", "Store"]
    assert token is not None and token != first and slot.state.token == token == core.cache.get(KEY)


def test_a_waiter_waits_for_the_pending_refresh_of_another_caller(core: PureCore) -> None:
    slot = Slot(KEY)
    leader = Flows(core).get_token(slot, None)
    assert isinstance(next(leader), Run)  # the leader holds the lease, its refresh not yet run
    waiter = Flows(core).get_token(slot, None)
    effect = next(waiter)
    assert isinstance(effect, Wait) and effect.pending is slot.pending
    leader.close()  # a leader abandoned before its refresh started: the lease still ends
    assert not slot.state.refreshing and effect.pending.done()


def test_a_shared_token_cache_saves_the_second_credential_its_exchange(sandbox: Sandbox) -> None:
    """The seam: two credentials on one cache make one request; the second one reads the first's token
    (what a persistent cache does across processes)."""
    app = sandbox.register_app(subject="system:serviceaccount:flow:shared")
    source = CountingAssertion(sandbox, subject="system:serviceaccount:flow:shared")
    options: Dict[str, Any] = dict(
        assertion=source, authority=sandbox.authority, connection_verify=sandbox.ca_file
    )
    shared = MemoryTokenCache(shared=True)
    first = FederatedTokenCredential(app.tenant_id, app.client_id, **options)
    second = FederatedTokenCredential(app.tenant_id, app.client_id, **options)
    first._core.cache = second._core.cache = shared
    with first, second:
        assert first.get_token(STORAGE).token == second.get_token(STORAGE).token
    assert sandbox.request_count("token") == 1 and source.calls == 1


def test_a_refresh_left_on_a_closed_event_loop_does_not_hold_the_key(sandbox: Sandbox) -> None:
    app = sandbox.register_app(subject="system:serviceaccount:flow:loops")
    clock = VirtualClock()
    credential = AioFederatedTokenCredential(
        app.tenant_id,
        app.client_id,
        assertion=CountingAssertion(sandbox, subject="system:serviceaccount:flow:loops"),
        authority=sandbox.authority,
        connection_verify=sandbox.ca_file,
        refresh_policy=RefreshPolicy(clock=clock),
    )
    loop = asyncio.new_event_loop()
    info = loop.run_until_complete(credential.get_token_info(STORAGE))
    assert info.refresh_on is not None
    clock.now = info.refresh_on + 1
    loop.run_until_complete(credential.get_token(STORAGE))  # starts a background task on this loop
    loop.close()  # ... which never runs: its loop is gone, without cancelling it
    clock.now = info.expires_on - 30  # mandatory: the next caller must not wait refresh_timeout
    token = asyncio.run(asyncio.wait_for(credential.get_token(STORAGE), 20))
    assert sandbox.verify_access_token(token.token) and token.token != info.token
    asyncio.run(credential.close())
