"""A bounded soak: 32 threads and 32 tasks share two credentials whose tokens live seconds, read a
token file rotated every second, while the STS fails one request in five. Nothing unexpected may
happen: no error reaches a caller (retries absorb the failures), and no expired token is returned.
AZURE_WIF_SOAK_SECONDS sets the length (default 12, at most 60)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

from azure_wif_credential import FederatedTokenCredential
from azure_wif_credential.aio import FederatedTokenCredential as AioFederatedTokenCredential
from azure_wif_credential.sandbox import Sandbox

from .conftest import STORAGE, SUBJECT

SECONDS = min(60.0, float(os.environ.get("AZURE_WIF_SOAK_SECONDS", "12")))
THREADS = TASKS = 32


def test_soak_threads_and_tasks_through_rotation_and_failures(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.token_lifetime = 4  # refresh_on after 2 s: every few seconds is a refresh, mostly mandatory
    app = sandbox.register_app(subject=SUBJECT)
    token_file = tmp_path / "token"
    stop = threading.Event()
    problems: List[str] = []
    served = {"sync": 0, "aio": 0}
    lock = threading.Lock()

    def rotate() -> None:  # kubelet: a new assertion every second, swapped in atomically
        while not stop.is_set():
            staged = tmp_path / "token.new"
            staged.write_text(sandbox.issue_assertion(subject=SUBJECT, lifetime=30))
            os.replace(staged, token_file)
            stop.wait(1.0)

    def fail_one_in_five() -> None:
        seen = 0
        while not stop.is_set():
            count = sandbox.request_count("token")
            if count >= seen + 4:
                seen = count + 1
                sandbox.fail_next(1, status=503)
            stop.wait(0.005)

    def check(token_expires_on: int, flavour: str) -> None:
        with lock:
            served[flavour] += 1
            if token_expires_on <= time.time():
                problems.append(f"{flavour}: an expired token was returned")

    options: Dict[str, Any] = {
        "authority": sandbox.authority,
        "connection_verify": sandbox.ca_file,
        "token_file": str(token_file),
    }
    rotate_thread = threading.Thread(target=rotate, daemon=True)
    rotate_thread.start()
    while not token_file.exists():
        time.sleep(0.01)
    faults = threading.Thread(target=fail_one_in_five, daemon=True)
    faults.start()

    sync_credential = FederatedTokenCredential(app.tenant_id, app.client_id, **options)

    def caller() -> None:
        while not stop.is_set():
            try:
                check(sync_credential.get_token(STORAGE).expires_on, "sync")
            except Exception as error:
                with lock:
                    problems.append(f"sync: {type(error).__name__}: {error}")
            time.sleep(0.005)

    async def tasks() -> None:
        async with AioFederatedTokenCredential(app.tenant_id, app.client_id, **options) as credential:

            async def task() -> None:
                while not stop.is_set():
                    try:
                        check((await credential.get_token(STORAGE)).expires_on, "aio")
                    except Exception as error:
                        with lock:
                            problems.append(f"aio: {type(error).__name__}: {error}")
                    await asyncio.sleep(0.005)

            await asyncio.gather(*(task() for _ in range(TASKS)))

    threads = [threading.Thread(target=caller) for _ in range(THREADS)]
    threads.append(threading.Thread(target=lambda: asyncio.run(tasks())))
    for thread in threads:
        thread.start()
    time.sleep(SECONDS)
    stop.set()
    for thread in [*threads, rotate_thread, faults]:
        thread.join(30)
    sync_credential.close()

    assert problems == [], f"{len(problems)} unexpected outcomes, first: {problems[:3]}"
    assert served["sync"] > 100 and served["aio"] > 100, served
    statuses = [record.status for record in sandbox.recorded("token")]
    assert statuses.count(200) >= 4, "tokens were refreshed during the soak"
    assert statuses.count(503) >= 1, "the STS failed during the soak"
    print(
        f"soak: {served} tokens served; token requests {len(statuses)}, of which 503: {statuses.count(503)}"
    )
