"""The host-wide token cache (``cache_persistence_options=``): one token request per key per host,
across processes, with every fault of the cache file falling back to a working credential."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from azure.identity import ClientAssertionCredential, TokenCachePersistenceOptions
from helpers import CountingAssertion, pod_environment

from azure_wif_credential import FederatedTokenCredential
from azure_wif_credential.aio import FederatedTokenCredential as AioFederatedTokenCredential
from azure_wif_credential.sandbox import Sandbox

SUBJECT = "system:serviceaccount:host:cache"
STORAGE = "https://storage.azure.com/.default"
VAULT = "https://vault.azure.net/.default"
WORKER = str(Path(__file__).with_name("host_cache_worker.py"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home directory of the test's own: the cache lives in ``~/.IdentityService``."""
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def app(sandbox: Sandbox) -> Any:
    return sandbox.register_app(subject=SUBJECT)


def options(name: str = "deploy", **kwargs: Any) -> TokenCachePersistenceOptions:
    return TokenCachePersistenceOptions(name=name, allow_unencrypted_storage=True, **kwargs)


def make(sandbox: Sandbox, app: Any, source: Any = None, **kwargs: Any) -> FederatedTokenCredential:
    kwargs.setdefault("cache_persistence_options", options())
    return FederatedTokenCredential(
        app.tenant_id,
        app.client_id,
        assertion=source or CountingAssertion(sandbox, SUBJECT),
        authority=sandbox.authority,
        connection_verify=sandbox.ca_file,
        retry_total=0,
        **kwargs,
    )


@pytest.fixture
def persisted_warnings(caplog: pytest.LogCaptureFixture) -> Iterator[List[str]]:
    with caplog.at_level(logging.WARNING, logger="azure_wif_credential"):
        found: List[str] = []
        yield found
        found.extend(r.getMessage() for r in caplog.records if "Persistent token cache" in r.getMessage())


def test_a_fresh_token_in_the_host_cache_costs_no_assertion_and_no_request(
    sandbox: Sandbox, app: Any, home: Path
) -> None:
    first_source, second_source = CountingAssertion(sandbox, SUBJECT), CountingAssertion(sandbox, SUBJECT)
    with make(sandbox, app, first_source) as first:
        info = first.get_token_info(STORAGE)
    requests = sandbox.request_count("token")
    with make(sandbox, app, second_source) as second:  # a new credential: as a new process starts
        again = second.get_token_info(STORAGE)
    assert (again.token, again.refresh_on, again.expires_on) == (info.token, info.refresh_on, info.expires_on)
    assert sandbox.request_count("token") == requests == 1
    assert second_source.calls == 0 and first_source.calls == 1


def test_the_cache_is_our_own_0600_file_beside_azure_identitys(
    sandbox: Sandbox, app: Any, home: Path
) -> None:
    with make(sandbox, app) as credential:
        token = credential.get_token(STORAGE).token
    location = home / ".IdentityService" / "deploy.wif"
    assert stat.S_IMODE(location.stat().st_mode) == 0o600
    document = json.loads(location.read_text())
    assert document["format"] == "azure-wif-credential.token-cache"
    assert token in location.read_text()  # unencrypted, as asked: which is why it is 0600
    assert stat.S_IMODE(location.parent.stat().st_mode) == 0o700
    others = [p for p in location.parent.iterdir() if p.name != "deploy.wif"]
    # OS locks live on files that stay (deleting a lock file lets two processes hold "the" lock): empty,
    # 0600, and free once the credential is done.
    assert {p.suffix for p in others} <= {".lockfile", ".lease"}
    assert all(p.stat().st_size == 0 and stat.S_IMODE(p.stat().st_mode) == 0o600 for p in others)


def test_without_encryption_or_allow_unencrypted_storage_the_error_names_the_option(
    sandbox: Sandbox, app: Any, home: Path
) -> None:
    try:
        import msal_extensions

        msal_extensions.build_encrypted_persistence(str(home / "probe"))
        pytest.skip("this machine can encrypt the cache (libsecret works)")
    except Exception:
        pass
    with pytest.raises(ValueError, match="allow_unencrypted_storage=True"):
        make(sandbox, app, cache_persistence_options=TokenCachePersistenceOptions(name="strict"))
    with pytest.raises(TypeError, match="TokenCachePersistenceOptions"):
        make(sandbox, app, cache_persistence_options={"name": "x"})
    with pytest.raises(ValueError, match="letters, digits"):
        make(sandbox, app, cache_persistence_options=options(name="../escape"))


def test_a_process_never_gets_another_clients_tenants_scopes_or_cae_modes_token(
    sandbox: Sandbox, app: Any, home: Path
) -> None:
    with make(sandbox, app) as credential:
        token = credential.get_token(STORAGE).token
    other_client = sandbox.register_app(subject=SUBJECT, tenant_id=app.tenant_id)
    other_tenant = sandbox.register_app(subject=SUBJECT, client_id=app.client_id)
    seen = {token}
    for owner in (other_client, other_tenant):
        with make(sandbox, owner) as credential:
            seen.add(credential.get_token(STORAGE).token)
    with make(sandbox, app) as credential:
        seen.add(credential.get_token(STORAGE, enable_cae=True).token)
        seen.add(credential.get_token(VAULT).token)
        assert credential.get_token(STORAGE).token == token, "and the original is still served"
    assert len(seen) == 5 and sandbox.request_count("token") == 5


def test_a_claims_challenge_reaches_entra_and_replaces_the_host_cache_entry(
    sandbox: Sandbox, app: Any, home: Path
) -> None:
    with make(sandbox, app) as credential:
        old = credential.get_token(STORAGE).token
        new = credential.get_token(STORAGE, claims='{"access_token": {"nbf": {"essential": true}}}').token
    assert new != old and sandbox.request_count("token") == 2
    with make(sandbox, app) as later:
        assert later.get_token(STORAGE).token == new


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b"\x00\xff garbage", b'{"AccessToken": {}, "RefreshToken": {}}', b"[]", b" " * (5 << 20)],
    ids=["empty", "truncated", "binary", "msal-format", "json-array", "huge"],
)
def test_a_corrupt_truncated_empty_or_foreign_file_is_ignored_and_rewritten(
    sandbox: Sandbox, app: Any, home: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    location = home / ".IdentityService" / "deploy.wif"
    location.parent.mkdir()
    location.write_bytes(content)
    source = CountingAssertion(sandbox, SUBJECT)
    with caplog.at_level(logging.WARNING, logger="azure_wif_credential"):
        with make(sandbox, app, source) as credential:
            token = credential.get_token(STORAGE).token
    assert sandbox.verify_access_token(token)
    warnings = [r.getMessage() for r in caplog.records if "ignoring" in r.getMessage()]
    assert len(warnings) == 1 and "rewritten" in warnings[0]
    assert all(token not in w and source.issued[0] not in w for w in warnings)
    assert json.loads(location.read_text())["format"] == "azure-wif-credential.token-cache"


def test_an_unusable_cache_directory_falls_back_to_memory_with_a_warning(
    sandbox: Sandbox, app: Any, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (home / ".IdentityService").write_text("a file where the directory should be")
    with caplog.at_level(logging.WARNING, logger="azure_wif_credential"):
        with make(sandbox, app) as credential:
            token = credential.get_token(STORAGE).token
            assert credential.get_token(STORAGE).token == token
    assert sandbox.verify_access_token(token) and sandbox.request_count("token") == 1
    assert any("in this process only" in r.getMessage() for r in caplog.records)


def test_a_lease_left_by_a_killed_process_is_not_a_deadlock(sandbox: Sandbox, app: Any, home: Path) -> None:
    from azure_wif_credential._host_files import HostLock
    from azure_wif_credential._persistent_cache import _key_id

    with make(sandbox, app) as credential:
        credential.get_token(VAULT)  # creates the directory and the document
        directory = home / ".IdentityService"
        leases = [p for p in directory.iterdir() if p.name.endswith(".lease")]
        locks = [HostLock(str(p)) for p in leases]
        free = [lock.acquire(0) for lock in locks]
        for lock in locks:
            lock.release()
        assert leases and all(free), "leases end with refreshes"
        # A process killed while refreshing STORAGE left its lease file behind (the OS freed its lock).
        cache: Any = credential._core.cache
        key = credential._core.key((STORAGE,), None, False)
        stale = Path(f"{cache.location}.{_key_id(cache._authority, cache._client_id, key)[:16]}.lease")
        stale.write_text("4194304 killed.py")
        stale.chmod(0o600)
        token = credential.get_token(STORAGE).token  # the OS lock died with its process: taken at once
    assert sandbox.verify_access_token(token)
    assert sandbox.request_count("token") == 2


def _workers(
    sandbox: Sandbox, app: Any, home: Path, count: int, *, together: bool, **settings: Any
) -> List[Dict[str, Any]]:
    fetches, go = home / "fetches.log", home / "go"
    fetches.touch()
    base = dict(
        tenant_id=app.tenant_id,
        client_id=app.client_id,
        authority=sandbox.authority,
        ca_file=sandbox.ca_file,
        assertion=sandbox.issue_assertion(subject=SUBJECT, lifetime=600),
        fetches=str(fetches),
        go=str(go) if together else None,
        **settings,
    )
    env = {**os.environ, "HOME": str(home)}
    results = []
    if together:
        processes = [
            subprocess.Popen([sys.executable, WORKER, json.dumps(base)], stdout=subprocess.PIPE, env=env)
            for _ in range(count)
        ]
        time.sleep(1.0)  # let every interpreter start and wait for the go file
        go.touch()
        for process in processes:
            out, _ = process.communicate(timeout=60)
            assert process.returncode == 0
            results.append(json.loads(out))
    else:
        for _ in range(count):
            out = subprocess.run(
                [sys.executable, WORKER, json.dumps(base)],
                capture_output=True,
                env=env,
                timeout=60,
                check=True,
            ).stdout
            results.append(json.loads(out))
    for result in results:
        result["fetches"] = len(fetches.read_text().split())
    return results


@pytest.mark.parametrize("kind", ["ours", "ours-aio"])
def test_sixteen_processes_started_at_once_make_one_token_request(
    sandbox: Sandbox, app: Any, home: Path, kind: str
) -> None:
    results = _workers(sandbox, app, home, 16, together=True, cache="fleet", kind=kind)
    assert sandbox.request_count("token") == 1
    assert results[0]["fetches"] == 1, "one assertion fetch on the host"
    assert len({r["token"] for r in results}) == 1
    assert len({r["refresh_on"] for r in results}) == 1, "refresh_on is the same in every process"


def test_a_later_cold_process_makes_at_most_one_request_before_its_first_token(
    sandbox: Sandbox, app: Any, home: Path
) -> None:
    _workers(sandbox, app, home, 1, together=False, cache="later")
    before = {e: sandbox.request_count(e) for e in ("token", "openid-configuration", "instance-discovery")}
    _workers(sandbox, app, home, 1, together=False, cache="later", scopes=[VAULT])  # cold for this scope
    after = {e: sandbox.request_count(e) for e in before}
    assert sum(after.values()) - sum(before.values()) == 1 and after["token"] == before["token"] + 1


def test_the_aio_credential_waits_for_the_host_lease_without_blocking_its_loop(
    sandbox: Sandbox, app: Any, home: Path
) -> None:
    import msal_extensions

    from azure_wif_credential._persistent_cache import _key_id

    credential = AioFederatedTokenCredential(
        app.tenant_id,
        app.client_id,
        assertion=CountingAssertion(sandbox, SUBJECT),
        authority=sandbox.authority,
        connection_verify=sandbox.ca_file,
        cache_persistence_options=options(),
    )
    cache: Any = credential._core.cache
    key = credential._core.key((STORAGE,), None, False)
    (home / ".IdentityService").mkdir(exist_ok=True)
    lease = msal_extensions.CrossPlatLock(
        f"{cache.location}.{_key_id(cache._authority, cache._client_id, key)[:16]}.lease"
    )
    held, release = threading.Event(), threading.Event()

    def holder() -> None:  # another process refreshing: holds the key's lease for a second
        with lease:
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(10)

    async def run() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.ensure_future(tick())
        asyncio.get_running_loop().call_later(0.5, release.set)
        async with credential:
            token = await credential.get_token(STORAGE)
        ticker.cancel()
        assert sandbox.verify_access_token(token.token)
        return ticks

    ticks = asyncio.run(run())
    thread.join(10)
    assert ticks >= 20, "the loop kept running while the credential waited for the lease"


def test_sharing_a_name_with_azure_identitys_cache_breaks_neither(
    sandbox: Sandbox, app: Any, home: Path
) -> None:
    source = CountingAssertion(sandbox, SUBJECT)
    theirs = ClientAssertionCredential(
        app.tenant_id,
        app.client_id,
        source,
        authority=sandbox.authority,
        connection_verify=sandbox.ca_file,
        disable_instance_discovery=True,
        cache_persistence_options=options(name="msal.cache"),
    )
    their_token = theirs.get_token(STORAGE).token
    directory = home / ".IdentityService"

    def theirs_only() -> Dict[str, bytes]:  # our document, and our lock and lease files, aside
        ours = (".wif", ".wif.lockfile", ".lease")
        return {p.name: p.read_bytes() for p in directory.iterdir() if not p.name.endswith(ours)}

    their_files = theirs_only()
    with make(sandbox, app, cache_persistence_options=options(name="msal.cache")) as ours:
        assert sandbox.verify_access_token(ours.get_token(STORAGE).token)
    assert theirs_only() == their_files
    assert theirs.get_token(STORAGE).token == their_token, "azure-identity still reads its own cache"
    assert (directory / "msal.cache.wif").exists()


def test_concurrent_writers_never_leave_a_torn_file(sandbox: Sandbox, app: Any, home: Path) -> None:
    scopes = [f"api://writer-{n}/.default" for n in range(8)]
    credentials = [make(sandbox, app) for _ in scopes]
    threads = [threading.Thread(target=c.get_token, args=(s,)) for c, s in zip(credentials, scopes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    document = json.loads((home / ".IdentityService" / "deploy.wif").read_text())
    assert sorted(e["scopes"][0] for e in document["tokens"].values()) == sorted(scopes)
    for credential in credentials:
        credential.close()


def test_from_environment_takes_the_keyword_too(
    sandbox: Sandbox, app: Any, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pod_environment(monkeypatch, sandbox, app, home / "token", subject=SUBJECT)
    tokens = []
    for _ in range(2):
        with FederatedTokenCredential.from_environment(
            authority=sandbox.authority,
            connection_verify=sandbox.ca_file,
            cache_persistence_options=options(),
        ) as credential:
            tokens.append(credential.get_token(STORAGE).token)
    assert tokens[0] == tokens[1] and sandbox.request_count("token") == 1


def test_sixty_four_cold_threads_in_one_process_still_make_one_request(
    sandbox: Sandbox, app: Any, home: Path
) -> None:
    source = CountingAssertion(sandbox, SUBJECT)
    credential = make(sandbox, app, source)
    barrier = threading.Barrier(64)
    tokens: List[str] = []

    def call() -> None:
        barrier.wait()
        tokens.append(credential.get_token(STORAGE).token)

    threads = [threading.Thread(target=call) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    credential.close()
    assert len(tokens) == 64 and len(set(tokens)) == 1
    assert sandbox.request_count("token") == 1 and source.calls == 1


@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_a_cache_path_that_is_not_a_file_is_never_read(
    sandbox: Sandbox, app: Any, home: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A FIFO would block a reader forever, /dev/zero would never end: neither is opened."""
    location = home / ".IdentityService" / "deploy.wif"
    location.parent.mkdir()
    if kind == "fifo":
        os.mkfifo(location)
    elif kind == "directory":
        location.mkdir()
    else:
        location.symlink_to("/dev/zero")
    with caplog.at_level(logging.WARNING, logger="azure_wif_credential"):
        with make(sandbox, app) as credential:
            assert sandbox.verify_access_token(credential.get_token(STORAGE).token)
    assert any(
        any(words in r.getMessage() for words in ("not a regular file", "symbolic link", "could not write"))
        for r in caplog.records
    )
