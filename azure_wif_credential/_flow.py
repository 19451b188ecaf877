"""The per-call protocol of both credentials, written once and sans-IO (httpx's ``auth_flow`` model).

A call is a generator: it yields an *effect* (call the assertion source, exchange with MSAL, read or
write the token cache, start a refresh in the background, run one now, wait for the one in flight)
and the shell sends back the effect's result or throws its error in. The flow decides everything
else: fresh / advisory / mandatory (through the policy), who leads a refresh, the claims bypass, the
backoff bookkeeping, what every waiter gets. It does no I/O and starts no thread or task; the thread
shell (``_credential``) and the asyncio shell (``aio._credential``) only perform what it asks.

Every refresh that begins ends: the refresh generator settles its lease and resolves its pending
result in ``finally``, whether it returns, raises, is interrupted, or is closed unfinished.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Generator, Iterator, Optional, Protocol, Union

from ._cache import CacheLock, TokenCache
from ._inputs import assertion_errors, checked_assertion, checked_claims
from ._policy import Action, RefreshPolicy
from ._redact import get_logger
from ._refresh import (
    Pending,
    begin_refresh,
    challenge_answered,
    refresh_timed_out,
    repeated_error,
    settle,
    usable_stored,
)
from ._slots import Slot
from ._tokens import CachedToken, CacheKey

_LOGGER = get_logger("azure_wif_credential")


# --- the seam: what the effects need of a credential -----------------------------------------------


class Exchanger(Protocol):
    """Trades an assertion for a token (the MSAL adapter; a simulation's stand-in)."""

    def exchange(self, key: CacheKey, assertion: str, claims: Optional[str] = None) -> CachedToken: ...


class Core(Protocol):
    """What a flow's effects need of a credential: its policy, assertion source, exchange and token
    cache. The credentials' ``CredentialCore``, the tests' and the fleet simulation's cores implement it."""

    @property
    def policy(self) -> RefreshPolicy: ...

    @property
    def source(self) -> Callable[[], Any]: ...

    @property
    def exchange(self) -> Exchanger: ...

    @property
    def cache(self) -> TokenCache: ...


# --- effects: what a flow asks its shell to do ---------------------------------------------------


class WaitTimedOut(Exception):
    """What a shell throws into the flow when a :class:`Wait` (or a :class:`Run`) ran out of time."""


class Blocking:
    """An effect that is one plain call: the thread shell calls it, the asyncio shell calls it in a
    worker thread when it ``blocks`` (never on the event loop)."""

    __slots__ = ()

    def call(self, core: Core) -> Any:
        raise NotImplementedError

    def blocks(self, core: Core) -> bool:
        return True


class CallSource(Blocking):
    """Call the assertion source; send back what it returned (the flow checks it)."""

    __slots__ = ()

    def call(self, core: Core) -> Any:
        return core.source()


class Exchange(Blocking):
    """Exchange ``assertion`` for a token through MSAL; send back the CachedToken."""

    __slots__ = ("assertion", "claims", "key")

    def __init__(self, key: CacheKey, assertion: str, claims: Optional[str]) -> None:
        self.key, self.assertion, self.claims = key, assertion, claims

    def call(self, core: Core) -> CachedToken:
        token: CachedToken = core.exchange.exchange(self.key, self.assertion, self.claims)
        return token


class _CacheCall(Blocking):
    """A call of the token cache: blocking only when the cache says so."""

    __slots__ = ("key",)

    def __init__(self, key: CacheKey) -> None:
        self.key = key

    def blocks(self, core: Core) -> bool:
        return bool(core.cache.blocking)


class Load(_CacheCall):
    """Read ``key``'s token from the credential's token cache; send back a CachedToken or None."""

    __slots__ = ()

    def call(self, core: Core) -> Optional[CachedToken]:
        token: Optional[CachedToken] = core.cache.get(self.key)
        return token


class Store(_CacheCall):
    """Write ``token`` to the token cache for ``key``; send back None."""

    __slots__ = ("token",)

    def __init__(self, key: CacheKey, token: CachedToken) -> None:
        super().__init__(key)
        self.token = token

    def call(self, core: Core) -> None:
        core.cache.put(self.key, self.token)


class Acquire(_CacheCall):
    """Take the shared token cache's lock on ``key`` (single-flight beyond this credential), waiting at
    most ``timeout``; send back the CacheLock (whose release never blocks)."""

    __slots__ = ("timeout",)

    def __init__(self, key: CacheKey, timeout: float) -> None:
        super().__init__(key)
        self.timeout = timeout

    def call(self, core: Core) -> CacheLock:
        lock: CacheLock = core.cache.lock(self.key, self.timeout)
        return lock


class Release(_CacheCall):
    """Give back a cache lock taken with :class:`Acquire`; send back None."""

    __slots__ = ("lock",)

    def __init__(self, key: CacheKey, lock: CacheLock) -> None:
        super().__init__(key)
        self.lock = lock

    def call(self, core: Core) -> None:
        self.lock.release()


class Start:
    """Run the refresh flow ``refresh`` in the background (a worker thread, a task); send back None.
    If it cannot be started, throw the error in: the flow settles the lease."""

    __slots__ = ("pending", "refresh")

    def __init__(self, refresh: Flow, pending: Pending) -> None:
        self.refresh, self.pending = refresh, pending


class Run:
    """Run the refresh flow ``refresh`` now, on the caller's behalf; send back its token. (The asyncio
    shell runs it as a task, so a cancelled caller does not cancel a refresh that others wait for.)"""

    __slots__ = ("pending", "refresh")

    def __init__(self, refresh: Flow, pending: Pending) -> None:
        self.refresh, self.pending = refresh, pending


class Wait:
    """Wait at most ``timeout`` seconds for ``pending``; send back its token, throw its error, or throw
    :class:`WaitTimedOut`."""

    __slots__ = ("pending", "timeout")

    def __init__(self, pending: Pending, timeout: float) -> None:
        self.pending, self.timeout = pending, timeout


Effect = Union[Blocking, Start, Run, Wait]
Flow = Generator[Effect, Any, CachedToken]


class Steps:
    """Drives a flow for a shell: ``for effect in steps: steps.answer(...)`` or ``steps.fail(error)``;
    ``steps.value`` is the flow's token once the loop ends (the flow's error is raised by the loop)."""

    __slots__ = ("_error", "_flow", "_reply", "value")

    def __init__(self, flow: Flow) -> None:
        self._flow = flow
        self._reply: Any = None
        self._error: Optional[BaseException] = None
        self.value: Optional[CachedToken] = None

    def __iter__(self) -> Iterator[Effect]:
        return self

    def __next__(self) -> Effect:
        reply, error = self._reply, self._error
        self._reply = self._error = None
        try:
            if error is not None:
                return self._flow.throw(error)
            return self._flow.send(reply)
        except StopIteration as done:
            self.value = done.value
            raise StopIteration from None
        finally:
            del error  # no reference cycle through the traceback

    def answer(self, reply: Any) -> None:
        self._reply = reply

    def outcome(self, perform: Callable[[Effect], Any], effect: Effect) -> None:
        """Answer with ``perform(effect)``, or fail with what it raised."""
        try:
            self._reply = perform(effect)
        except BaseException as error:
            self._error = error

    def fail(self, error: BaseException) -> None:
        self._error = error

    def result(self) -> CachedToken:
        assert self.value is not None
        return self.value


# --- the flows -----------------------------------------------------------------------------------


class Flows:
    """The flows of one credential (``core``: anything with the credential's ``policy``)."""

    def __init__(self, core: Core) -> None:
        self.policy: RefreshPolicy = core.policy
        self._core = core

    def get_token(self, slot: Slot, claims: Optional[str]) -> Flow:
        """One ``get_token`` call for ``slot``'s key (after the shell's cache-hit path missed)."""
        claims = checked_claims(claims)
        if claims:
            # Not the key's refresh: a challenge always reaches Entra, and its token replaces the entry.
            token = yield from self._exchange(slot.key, claims)
            with slot.lock:
                challenge_answered(slot.state, token)
            if self._core.cache.shared:
                yield Store(slot.key, token)
            return token
        policy = self.policy
        with slot.lock:
            now = policy.clock()
            state = slot.state
            pending = slot.pending
            if state.refreshing and pending is not None and not pending.alive():
                # Its runner is gone (a closed event loop): end that lease now rather than at its timeout.
                settle(self.policy, slot.key, state, None, state.generation, None, None, counted=False)
                pending.resolve(None, None)
            action = policy.decide(state, now)
            generation = None
            if action is Action.SERVE_AND_REFRESH or action is Action.WAIT:
                generation = begin_refresh(state, policy, now)
                if generation is not None:
                    slot.pending = Pending()
            pending = slot.pending
            current = state.token
            wait = policy.wait_left(state, now)
            if action is Action.FAIL:
                raise repeated_error(state.last_error, state.held_until - now)
        if action is not Action.WAIT:
            assert current is not None
            if generation is not None and pending is not None:
                refresh = self.refresh(slot, generation, pending)
                try:
                    yield Start(refresh, pending)
                except BaseException as error:  # no thread or task to be had
                    self._if_never_started(refresh, slot, generation, pending, error)
            return current
        assert pending is not None
        try:
            if generation is not None:
                refresh = self.refresh(slot, generation, pending)
                try:
                    led: CachedToken = yield Run(refresh, pending)
                    return led
                except BaseException as error:
                    self._if_never_started(refresh, slot, generation, pending, error)
                    raise
            shared: CachedToken = yield Wait(pending, wait)
            return shared
        except Exception as error:
            # The refresh failed (or outlived its lease): a token that has not expired is still better
            # than an error (the failure was logged as a WARNING where it ended).
            with slot.lock:
                kept = slot.state.token
                if kept is not None and policy.clock() < kept.expires_on:
                    return kept
            if isinstance(error, WaitTimedOut):
                raise refresh_timed_out(slot.key, policy) from None
            raise

    def refresh(self, slot: Slot, generation: int, pending: Pending) -> Flow:
        """Lease ``generation`` of ``slot``'s one refresh. Its outcome goes to every waiter through
        ``pending``; whatever happens the lease is settled (an interrupt or a cancellation is not a
        failure of Entra's and starts no backoff)."""
        token: Optional[CachedToken] = None
        error: Optional[BaseException] = None
        try:
            token = yield from self._through_cache(slot)
            return token
        except BaseException as raised:
            error = raised
            raise
        finally:
            try:
                self._settle(slot, generation, token, error, counted=isinstance(error, Exception))
            finally:
                pending.resolve(token, error)
                del error

    def _through_cache(self, slot: Slot) -> Generator[Effect, Any, CachedToken]:
        """The token cache's fresh token for the key if it has one (someone sharing the cache refreshed
        it), else a new one from Entra, stored. The cache's lock makes that one request among all who
        share it; it is released as an effect (a file lock: not on an event loop), or at once when the
        flow is interrupted. A private cache is not asked (the slot's lock already makes the refresh
        single-flight, and nothing else would read what it stored)."""
        if not self._core.cache.shared:
            exchanged: CachedToken = yield from self._exchange(slot.key, None)
            return exchanged
        lock: CacheLock = yield Acquire(slot.key, self.policy.refresh_timeout)
        failure: Optional[Exception] = None
        token: Optional[CachedToken] = None
        try:
            stored = yield Load(slot.key)
            with slot.lock:
                token = usable_stored(self.policy, slot.state, stored, self.policy.clock())
            if token is None:
                token = yield from self._exchange(slot.key, None)
                yield Store(slot.key, token)
        except Exception as error:
            failure = error
        except BaseException:  # an interrupt or a cancellation: release here and now
            lock.release()
            raise
        yield Release(slot.key, lock)
        if failure is not None:
            raise failure
        assert token is not None
        return token

    def _exchange(self, key: CacheKey, claims: Optional[str]) -> Generator[Effect, Any, CachedToken]:
        with assertion_errors():
            assertion = checked_assertion((yield CallSource()))
        token: CachedToken = yield Exchange(key, assertion, claims)
        return token

    def _if_never_started(
        self, refresh: Flow, slot: Slot, generation: int, pending: Pending, error: BaseException
    ) -> None:
        """A refresh the shell could not start ends here (one that started ends by itself)."""
        if inspect.getgeneratorstate(refresh) == inspect.GEN_CREATED:
            self._settle(slot, generation, None, error, counted=False)
            pending.resolve(None, error)

    def _settle(
        self,
        slot: Slot,
        generation: int,
        token: Optional[CachedToken],
        error: Optional[BaseException],
        *,
        counted: bool,
    ) -> None:
        settle(self.policy, slot.key, slot.state, slot.lock, generation, token, error, counted=counted)


def drive(flow: Flow, perform: Callable[[Effect], Any]) -> CachedToken:
    """Run ``flow`` to its end on this thread, performing each effect with ``perform``."""
    steps = Steps(flow)
    for effect in steps:
        steps.outcome(perform, effect)
    return steps.result()
