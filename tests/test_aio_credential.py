"""aio.FederatedTokenCredential against the HTTPS sandbox: the same policy, driven by asyncio."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator, List, TypeVar

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError
from azure.identity.aio import ChainedTokenCredential

from azure_wif_credential import TokenExchangeError
from azure_wif_credential.aio import FederatedTokenCredential
from azure_wif_credential.sandbox import Sandbox

SUBJECT = "system:serviceaccount:default:web"
STORAGE = "https://storage.azure.com/.default"
GRAPH = "https://graph.microsoft.com/.default"
T = TypeVar("T")


@contextlib.asynccontextmanager
async def ticking() -> AsyncIterator[List[float]]:
    """A task that records a timestamp every 10 ms while the block runs: gaps show a blocked loop."""
    ticks: List[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    try:
        yield ticks
    finally:
        done.set()
        await task


async def eventually(condition: Callable[[], Any], timeout: float = 5.0) -> None:
    """Poll ``condition`` (plain or async) until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if await result if inspect.isawaitable(result) else result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


class Counting:
    def __init__(self, sandbox: Sandbox, subject: str = SUBJECT, *, is_async: bool = False) -> None:
        self.sandbox, self.subject = sandbox, subject
        self.calls = 0
        self.threads: List[str] = []
        self.issued: List[str] = []

    def __call__(self) -> str:
        self.calls += 1
        self.threads.append(threading.current_thread().name)
        token = self.sandbox.issue_assertion(subject=self.subject)
        self.issued.append(token)
        return token


@pytest.fixture(autouse=True)
def no_asyncio_complaints(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """asyncio reports a pending task destroyed, or an exception never retrieved, through its logger;
    (unclosed resources are ResourceWarnings, made errors in pyproject.toml). Any of these fails."""
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        yield
    complaints = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert not complaints, complaints


@pytest.fixture
def app(sandbox: Sandbox) -> Any:
    return sandbox.register_app(subject=SUBJECT)


@pytest.fixture
def make(sandbox: Sandbox, app: Any) -> Callable[..., FederatedTokenCredential]:
    def make(**kwargs: Any) -> FederatedTokenCredential:
        kwargs.setdefault("authority", sandbox.authority)
        kwargs.setdefault("connection_verify", sandbox.ca_file)
        kwargs.setdefault("retry_total", 0)
        if "assertion" not in kwargs and "token_file" not in kwargs:
            kwargs["assertion"] = Counting(sandbox)
        return FederatedTokenCredential(app.tenant_id, app.client_id, **kwargs)

    return make


def test_get_token_with_a_sync_source_runs_it_off_the_event_loop(
    sandbox: Sandbox, app: Any, make: Callable[..., FederatedTokenCredential]
) -> None:
    source = Counting(sandbox)

    async def main() -> AccessToken:
        async with make(assertion=source) as credential:
            return await credential.get_token(STORAGE)

    token = run(main())
    assert sandbox.verify_access_token(token.token)["appid"] == app.client_id
    assert source.threads and all(name.startswith("azure-wif-aio") for name in source.threads)


def test_a_coroutine_function_source_is_awaited(
    sandbox: Sandbox, make: Callable[..., FederatedTokenCredential]
) -> None:
    calls: List[int] = []

    async def source() -> str:
        await asyncio.sleep(0)
        calls.append(1)
        return sandbox.issue_assertion(subject=SUBJECT)

    async def main() -> None:
        async with make(assertion=source) as credential:
            info = await credential.get_token_info(STORAGE)
            assert info.refresh_on is not None
            assert (await credential.get_token(STORAGE)).token == info.token

    run(main())
    assert calls == [1]


def test_64_concurrent_tasks_on_a_cold_key_cause_one_request_and_one_assertion(
    sandbox: Sandbox, make: Callable[..., FederatedTokenCredential]
) -> None:
    source = Counting(sandbox)
    sandbox.set_latency(0.2)

    async def main() -> List[AccessToken]:
        async with make(assertion=source) as credential:
            return await asyncio.gather(*(credential.get_token(STORAGE) for _ in range(64)))

    tokens = run(main())
    assert len({t.token for t in tokens}) == 1
    assert sandbox.request_count("token") == 1
    assert source.calls == 1


def test_the_event_loop_keeps_ticking_while_the_sts_takes_a_second(
    sandbox: Sandbox, make: Callable[..., FederatedTokenCredential]
) -> None:
    sandbox.set_latency(1.0)

    async def main() -> List[float]:
        async with ticking() as ticks, make() as credential:
            await credential.get_token(STORAGE)
        return ticks

    ticks = run(main())
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert len(ticks) > 20, "the ticker ran throughout the one-second exchange"
    assert max(gaps) < 0.5, "no stall anywhere near the STS's one second"


def test_advisory_window_callers_never_wait_and_one_background_task_refreshes(
    sandbox: Sandbox, make: Callable[..., FederatedTokenCredential]
) -> None:
    sandbox.refresh_in = 1

    async def main() -> None:
        async with make() as credential:
            old = (await credential.get_token(STORAGE)).token
            await asyncio.sleep(1.1)
            sandbox.set_latency(0.5)
            seen = await asyncio.gather(*(credential.get_token(STORAGE) for _ in range(20)))
            assert {t.token for t in seen} == {old}

            async def refreshed() -> bool:
                return (await credential.get_token(STORAGE)).token != old

            await eventually(refreshed)

    run(main())
    assert sandbox.request_count("token") == 2


def test_advisory_refresh_failure_keeps_the_cached_token(
    sandbox: Sandbox, make: Callable[..., FederatedTokenCredential]
) -> None:
    sandbox.refresh_in = 1

    async def main() -> None:
        async with make() as credential:
            old = (await credential.get_token(STORAGE)).token
            await asyncio.sleep(1.1)
            sandbox.fail_next(3, status=500)
            assert (await credential.get_token(STORAGE)).token == old
            await eventually(lambda: sandbox.request_count("token") == 2)
            await asyncio.sleep(0.05)
            for _ in range(10):
                assert (await credential.get_token(STORAGE)).token == old

    run(main())
    assert sandbox.request_count("token") == 2


def test_a_cancelled_waiter_does_not_cancel_the_shared_refresh(
    sandbox: Sandbox, make: Callable[..., FederatedTokenCredential]
) -> None:
    sandbox.set_latency(0.3)

    async def main() -> None:
        async with make() as credential:
            first = asyncio.create_task(credential.get_token(STORAGE))
            others = [asyncio.create_task(credential.get_token(STORAGE)) for _ in range(5)]
            await asyncio.sleep(0.05)
            first.cancel()
            tokens = await asyncio.gather(*others)
            assert len({t.token for t in tokens}) == 1
            with pytest.raises(asyncio.CancelledError):
                await first
            assert (await credential.get_token(STORAGE)).token == tokens[0].token

    run(main())
    assert sandbox.request_count("token") == 1


def test_close_cancels_a_background_refresh_without_warnings(
    sandbox: Sandbox, make: Callable[..., FederatedTokenCredential]
) -> None:
    sandbox.refresh_in = 1

    async def main() -> None:
        credential = make()
        await credential.get_token(STORAGE)
        await asyncio.sleep(1.1)
        sandbox.set_latency(2)
        await credential.get_token(STORAGE)  # starts the background refresh
        await credential.close()
        assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    run(main())
    assert not [t for t in threading.enumerate() if t.name.startswith("azure-wif-aio")]


def test_works_across_event_loops_one_asyncio_run_per_call(
    sandbox: Sandbox, make: Callable[..., FederatedTokenCredential]
) -> None:
    sandbox.token_lifetime = 3  # refresh_on 1.5 s: each later loop must refresh
    credential = make()
    first = run(credential.get_token(STORAGE))
    assert run(credential.get_token(STORAGE)).token == first.token
    time.sleep(1.6)
    second = run(credential.get_token(STORAGE))
    assert second.token != first.token
    run(credential.close())


def test_chain_moves_on_when_the_environment_is_incomplete(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)

    class Static:
        async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return AccessToken("static", int(time.time()) + 3600)

        async def close(self) -> None:
            pass

    async def main() -> str:
        credential = FederatedTokenCredential.from_environment()
        with pytest.raises(CredentialUnavailableError, match="AZURE_CLIENT_ID"):
            await credential.get_token(STORAGE)
        async with ChainedTokenCredential(credential, Static()) as chain:  # type: ignore[arg-type]
            return (await chain.get_token(STORAGE)).token

    assert run(main()) == "static"


def test_a_rejected_exchange_explains_itself_and_stops_the_chain(
    sandbox: Sandbox, make: Callable[..., FederatedTokenCredential]
) -> None:
    source = Counting(sandbox, subject="repo:someone/else:ref:refs/heads/main")

    class Never:
        async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            raise AssertionError("must not be reached")

        async def close(self) -> None:
            pass

    async def main() -> None:
        credential = make(assertion=source)
        with pytest.raises(TokenExchangeError) as caught:
            await credential.get_token(STORAGE)
        assert "repo:someone/else:ref:refs/heads/main" in str(caught.value)
        assert source.issued[0] not in str(caught.value)
        async with ChainedTokenCredential(credential, Never()) as chain:  # type: ignore[arg-type]
            with pytest.raises(ClientAuthenticationError):
                await chain.get_token(STORAGE)

    run(main())


def test_cae_and_claims_behave_as_in_the_sync_credential(
    sandbox: Sandbox, make: Callable[..., FederatedTokenCredential]
) -> None:
    async def main() -> None:
        async with make() as credential:
            cae = await credential.get_token(STORAGE, enable_cae=True)
            plain = await credential.get_token(STORAGE)
            assert cae.token != plain.token
            new = await credential.get_token(STORAGE, enable_cae=True, claims='{"access_token":{}}')
            assert new.token != cae.token
            assert (await credential.get_token(STORAGE, enable_cae=True)).token == new.token

    run(main())
    assert sandbox.request_count("token") == 3


def test_a_missing_token_file_is_credential_unavailable(
    make: Callable[..., FederatedTokenCredential], tmp_path: Any
) -> None:
    async def main() -> None:
        async with make(token_file=str(tmp_path / "nope")) as credential:
            with pytest.raises(CredentialUnavailableError, match="nope"):
                await credential.get_token(STORAGE)

    run(main())


def test_a_github_actions_source_runs_off_the_loop_and_every_long_job_exchange_succeeds(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure_wif_credential.assertions import GitHubActionsAssertion

    # 3-second tokens: claims are whole seconds, so a 1-second token may have only a moment left.
    for name, value in sandbox.github_actions_env(token_lifetime=3).items():
        monkeypatch.setenv(name, value)
    app = sandbox.register_app(
        subject="repo:octo-org/octo-repo:ref:refs/heads/main", issuer=sandbox.github_issuer
    )
    sandbox.set_latency(1.0, endpoint="github")

    async def main() -> List[float]:
        async with ticking() as ticks:
            async with FederatedTokenCredential(
                app.tenant_id,
                app.client_id,
                assertion=GitHubActionsAssertion(connection_verify=sandbox.ca_file),
                authority=sandbox.authority,
                connection_verify=sandbox.ca_file,
            ) as credential:
                for i in range(2):  # a "job" longer than its 3-second CI tokens, one scope per step
                    await credential.get_token(f"https://step{i}.example/.default")
                    await asyncio.sleep(3.2)
        return ticks

    ticks = run(main())
    assert (sandbox.request_count("github"), sandbox.request_count("token")) == (2, 2)
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert max(gaps) < 0.5, f"the 1-second GitHub call never blocked the loop (worst gap {max(gaps):.3f} s)"
