"""The host cache on a shared, full or stuck host.

A local attacker (another uid: the test drops privileges to ``nobody`` in a child process) plants
directories, links and documents; the cache refuses each with one WARNING naming the reason, serves
only tokens Entra issued, and never writes where the attacker pointed. A full disk and a lock held
by a live foreign process cost a bounded few seconds once, then this process's memory: never an
exception, never a hang."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest
from azure.identity import TokenCachePersistenceOptions
from helpers import CountingAssertion, unexpired

from azure_wif_credential import FederatedTokenCredential
from azure_wif_credential._persistent_cache import _key_id
from azure_wif_credential.sandbox import Sandbox

SUBJECT = "system:serviceaccount:default:web"
STORAGE = "https://storage.azure.com/.default"
SCOPES = [f"https://service{n}.example/.default" for n in range(5)]
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
NOBODY = 65534
needs_root = pytest.mark.skipif(
    not ROOT and os.environ.get("CI") != "true",
    reason="the attacker runs as another uid: the test must run as root to drop privileges",
)


def as_nobody(action: Callable[[], None]) -> None:
    """Run ``action`` as uid/gid 65534 in a forked child (the other local user)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            action()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the attacker's setup failed"


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory every user can write (as /tmp is), holding the victim's HOME."""
    place = Path(tempfile.mkdtemp(prefix="wif-shared-", dir="/tmp"))
    place.chmod(0o1777)
    yield place
    shutil.rmtree(place, ignore_errors=True)


def credential_for(sandbox: Sandbox, app: Any, **kwargs: Any) -> FederatedTokenCredential:
    return FederatedTokenCredential(
        app.tenant_id,
        app.client_id,
        assertion=CountingAssertion(sandbox, SUBJECT),
        authority=sandbox.authority,
        connection_verify=sandbox.ca_file,
        retry_total=0,
        cache_persistence_options=TokenCachePersistenceOptions(name="deploy", allow_unencrypted_storage=True),
        **kwargs,
    )


def planted_document(sandbox: Sandbox, app: Any, token: str) -> str:
    from azure_wif_credential._tokens import CacheKey

    key = CacheKey((STORAGE,), app.tenant_id, False)
    entry = {
        "authority": sandbox.authority,
        "client_id": app.client_id,
        "tenant_id": app.tenant_id,
        "scopes": [STORAGE],
        "enable_cae": False,
        "access_token": token,
        "token_type": "Bearer",
        "expires_on": int(time.time()) + 3000,
        "refresh_on": int(time.time()) + 2000,
    }
    return json.dumps(
        {
            "format": "azure-wif-credential.token-cache",
            "version": 1,
            "discovery": {},
            "tokens": {_key_id(sandbox.authority, app.client_id, key): entry},
        }
    )


PLANTED_TOKEN = "eyJhbGciOiJub25lIn0.eyJhdWQiOiJodHRwczovL3N0b3JhZ2UuYXp1cmUuY29tIn0.planted"


def _scenario(name: str, home: Path, shared: Path, sandbox: Sandbox, app: Any) -> Dict[str, Any]:
    """Sets up one attack; returns what to check: the reason's words and files that must not change."""
    directory = home / ".IdentityService"
    foreign = shared / "foreign"
    checks: Dict[str, Any] = {"untouched": {}, "absent": []}
    if name == "directory made by another user":

        def make_it_theirs() -> None:
            directory.mkdir()
            directory.chmod(0o777)

        as_nobody(make_it_theirs)
        checks["words"] = "owned by uid 65534"
    elif name == "directory is a link to another user's":

        def plant() -> None:
            foreign.mkdir()
            foreign.chmod(0o777)
            directory.symlink_to(foreign)

        as_nobody(plant)
        checks["words"], checks["empty"] = "symbolic link", foreign
    elif name == "our directory, writable by all (sticky)":
        directory.mkdir()
        directory.chmod(0o1777)
        checks["words"] = "writable by other users"
    elif name == "the file is a link to another user's file":
        as_nobody(lambda: (foreign.write_text("theirs"), None)[1])
        directory.mkdir(mode=0o700)
        (directory / "deploy.wif").symlink_to(foreign)
        checks["words"], checks["untouched"] = "symbolic link", {foreign: "theirs"}
    elif name == "a dangling link at the file":
        directory.mkdir(mode=0o700)
        (directory / "deploy.wif").symlink_to(shared / "made-by-us")
        checks["words"], checks["absent"] = "symbolic link", [shared / "made-by-us"]
    elif name == "a document another user owns":
        directory.mkdir(mode=0o700)
        document = directory / "deploy.wif"
        document.write_text(planted_document(sandbox, app, PLANTED_TOKEN))
        document.chmod(0o600)
        os.chown(document, NOBODY, NOBODY)
        checks["words"] = "owned by uid 65534"
    elif name == "a document with a second hard link":
        directory.mkdir(mode=0o700)
        document = directory / "deploy.wif"
        document.write_text(planted_document(sandbox, app, PLANTED_TOKEN))
        document.chmod(0o600)
        os.link(document, home / "second-name")
        checks["words"] = "hard links"
    else:  # pragma: no cover
        raise AssertionError(name)
    return checks


ATTACKS = [
    "directory made by another user",
    "directory is a link to another user's",
    "our directory, writable by all (sticky)",
    "the file is a link to another user's file",
    "a dangling link at the file",
    "a document another user owns",
    "a document with a second hard link",
]


@needs_root
@pytest.mark.parametrize("attack", ATTACKS)
def test_a_local_attackers_plant_is_refused_with_one_warning(
    attack: str,
    shared: Path,
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    home = shared / "victim"
    home.mkdir()
    home.chmod(0o1777)  # a home others can write, as HOME=/tmp is
    monkeypatch.setenv("HOME", str(home))
    app = sandbox.register_app(subject=SUBJECT)
    checks = _scenario(attack, home, shared, sandbox, app)
    with caplog.at_level(logging.WARNING, logger="azure_wif_credential"):
        with credential_for(sandbox, app) as credential:
            tokens = [unexpired(credential.get_token(STORAGE), time.time()).token for _ in range(3)]
            other = credential.get_token(SCOPES[0]).token
    assert tokens[0] != PLANTED_TOKEN and sandbox.verify_access_token(tokens[0]), "only Entra's tokens"
    assert len(set(tokens)) == 1 and sandbox.verify_access_token(other)
    assert sandbox.request_count("token") == 2, "this process's memory still caches"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and checks["words"] in warnings[0], warnings
    for path, content in checks["untouched"].items():
        assert path.read_text() == content, "another user's file was not written"
    for path in checks["absent"]:
        assert not path.exists() and not path.is_symlink(), "nothing was created where a link pointed"
    if "empty" in checks:
        assert list(checks["empty"].iterdir()) == [], "nothing was written into their directory"


def test_under_umask_000_the_directory_is_0700_and_the_file_0600(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    app = sandbox.register_app(subject=SUBJECT)
    old = os.umask(0)
    try:
        with credential_for(sandbox, app) as credential:
            credential.get_token(STORAGE)
    finally:
        os.umask(old)
    directory = tmp_path / ".IdentityService"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


@pytest.fixture
def full_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """HOME on a tiny tmpfs, filled up: every write fails with ENOSPC."""
    if not ROOT:
        if os.environ.get("CI") == "true":
            raise AssertionError("CI runs as root: a tmpfs can be mounted")
        pytest.skip("mounting a full tmpfs needs root")
    mount = tmp_path / "full"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(mount)], check=True)
    try:
        (mount / ".IdentityService").mkdir(mode=0o700)
        filler = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(filler, b"\0" * 4096):
                pass
        except OSError:  # ENOSPC: full
            pass
        finally:
            os.close(filler)
        monkeypatch.setenv("HOME", str(mount))
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_a_warning_and_memory_never_an_error_or_a_wait(
    sandbox: Sandbox, full_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = sandbox.register_app(subject=SUBJECT)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="azure_wif_credential"):
        with credential_for(sandbox, app) as credential:
            tokens = [credential.get_token(scope).token for scope in SCOPES]
            assert [credential.get_token(scope).token for scope in SCOPES] == tokens
    elapsed = time.monotonic() - started
    assert all(sandbox.verify_access_token(t) for t in tokens)
    assert sandbox.request_count("token") == len(SCOPES), "one request per key, then memory"
    assert elapsed < 10, f"{elapsed:.1f} s for {len(SCOPES)} keys on a full disk (was 15 s + 10 s a key)"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "No space left" in warnings[0], warnings
    leftovers = [p.name for p in (full_home / ".IdentityService").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == [], "a failed write leaves nothing behind"


HOLDER = """
import sys, time, portalocker
with open(sys.argv[1], "ab") as f:
    portalocker.lock(f, portalocker.LOCK_EX)
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_document_lock_held_by_a_live_process_costs_seconds_once(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    directory = tmp_path / ".IdentityService"
    directory.mkdir(mode=0o700)
    lockfile = directory / "deploy.wif.lockfile"
    lockfile.touch(mode=0o600)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(lockfile)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        app = sandbox.register_app(subject=SUBJECT)
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="azure_wif_credential"):
            with credential_for(sandbox, app) as credential:
                tokens: List[str] = [credential.get_token(scope).token for scope in SCOPES]
        elapsed = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()
    assert all(sandbox.verify_access_token(t) for t in tokens)
    assert sandbox.request_count("token") == len(SCOPES)
    assert elapsed < 10, f"{elapsed:.1f} s for {len(SCOPES)} keys (was 40 s + 20 s a key)"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "stayed locked by another process" in warnings[0], warnings
