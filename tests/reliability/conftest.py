"""The reliability suite's fixtures: a virtual clock, counting assertion sources, and one driver that
runs the sync and the async credential alike, so each case is written once and run on both."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, Callable, Iterator, List, Optional

import pytest
from helpers import CountingAssertion, VirtualClock, unexpired

from azure_wif_credential import FederatedTokenCredential
from azure_wif_credential._policy import RefreshPolicy
from azure_wif_credential.aio import FederatedTokenCredential as AioFederatedTokenCredential
from azure_wif_credential.sandbox import Sandbox

SUBJECT = "system:serviceaccount:reliability:worker"
STORAGE = "https://storage.azure.com/.default"


class SandboxAssertion(CountingAssertion):
    """The counting source, for this suite's subject."""

    def __init__(self, sandbox: Sandbox, subject: str = SUBJECT) -> None:
        super().__init__(sandbox, subject)


class WarningCounter(logging.Handler):
    """Counts the WARNINGs of failed background refreshes: how a test knows one has ended."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "failed; keeping the cached token" in record.getMessage():
            self.count += 1


class Driver:
    """One credential, sync or aio, driven through the same synchronous calls."""

    def __init__(
        self, flavour: str, credential: Any, warnings: WarningCounter, clock: Callable[[], float] = time.time
    ) -> None:
        self.flavour = flavour
        self.credential = credential
        self.warnings = warnings
        self.clock = clock
        self.loop: Optional[asyncio.AbstractEventLoop] = (
            asyncio.new_event_loop() if flavour == "aio" else None
        )

    def now(self) -> float:
        """The credential's clock (the virtual one where the test moves time)."""
        return float(self.clock())

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        if self.loop is None:
            return unexpired(self.credential.get_token(*scopes, **kwargs), self.now())
        return unexpired(
            self.loop.run_until_complete(self.credential.get_token(*scopes, **kwargs)), self.now()
        )

    def get_token_info(self, *scopes: str, **kwargs: Any) -> Any:
        if self.loop is None:
            return unexpired(self.credential.get_token_info(*scopes, **kwargs), self.now())
        coroutine = self.credential.get_token_info(*scopes, **kwargs)
        return unexpired(self.loop.run_until_complete(coroutine), self.now())

    def concurrently(self, count: int, *scopes: str) -> List[Any]:
        """``count`` callers at once (threads, or tasks on the driver's loop): each one's token or error."""
        if self.loop is None:
            barrier, outcomes = threading.Barrier(count), []

            def call() -> None:
                barrier.wait()
                try:
                    outcomes.append(unexpired(self.credential.get_token(*scopes), self.now()))
                except Exception as error:
                    outcomes.append(error)

            threads = [threading.Thread(target=call) for _ in range(count)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            return outcomes

        async def all_at_once() -> List[Any]:
            calls = [self.credential.get_token(*scopes) for _ in range(count)]
            outcomes = list(await asyncio.gather(*calls, return_exceptions=True))
            for outcome in outcomes:
                if not isinstance(outcome, BaseException):
                    unexpired(outcome, self.now())
            return outcomes

        return self.loop.run_until_complete(all_at_once())

    def until(self, condition: Callable[[], bool], timeout: float = 20.0) -> None:
        """Let background work run (the event loop, for aio) until ``condition`` holds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("condition not reached")
            if self.loop is None:
                time.sleep(0.0005)
            else:
                self.loop.run_until_complete(asyncio.sleep(0.0005))

    def close(self) -> None:
        if self.loop is None:
            self.credential.close()
            return
        self.loop.run_until_complete(self.credential.close())
        self.loop.close()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def warnings() -> Iterator[WarningCounter]:
    handler = WarningCounter()
    logger = logging.getLogger("azure_wif_credential")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
def make_driver(
    sandbox: Sandbox, clock: VirtualClock, warnings: WarningCounter
) -> Iterator[Callable[..., Driver]]:
    """``make_driver(flavour, **kwargs)``: a credential for a new sandbox app on the virtual clock,
    without retries (each attempt is one request) and with short timeouts."""
    made: List[Driver] = []

    def make(flavour: str, **kwargs: Any) -> Driver:
        app = sandbox.register_app(subject=SUBJECT)
        kwargs.setdefault("authority", sandbox.authority)
        kwargs.setdefault("connection_verify", sandbox.ca_file)
        kwargs.setdefault("retry_total", 0)
        kwargs.setdefault("read_timeout", 2)
        kwargs.setdefault("refresh_policy", RefreshPolicy(clock=clock))
        if "assertion" not in kwargs and "token_file" not in kwargs:
            kwargs["assertion"] = SandboxAssertion(sandbox)
        kind = FederatedTokenCredential if flavour == "sync" else AioFederatedTokenCredential
        credential = kind(app.tenant_id, app.client_id, **kwargs)
        driver = Driver(flavour, credential, warnings, kwargs["refresh_policy"].clock)
        made.append(driver)
        return driver

    yield make
    for driver in made:
        driver.close()


@pytest.fixture(params=["sync", "aio"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)
