"""Side-by-side benchmark: FederatedTokenCredential vs azure.identity.ClientAssertionCredential vs raw
MSAL ``acquire_token_for_client``, in one process, against the local sandbox over HTTPS.

    .venv/bin/python benchmarks/bench_credentials.py [--json results.json] [--quick]

Reports ratios, so the machine's speed cancels out. Not a test: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import msal
from _common import Counter, sandbox_options
from azure.identity import ClientAssertionCredential

from azure_wif_credential import FederatedTokenCredential
from azure_wif_credential.sandbox import Sandbox

SUBJECT = "system:serviceaccount:bench:app"


@dataclass
class Contender:
    name: str
    get: Callable[[str], str]  # scope -> token
    counter: Counter
    close: Callable[[], None]


def contenders(sandbox: Sandbox, **ours: Any) -> List[Contender]:
    app = sandbox.register_app(subject=SUBJECT)
    result = []
    c1 = Counter(sandbox, SUBJECT)
    cred = FederatedTokenCredential(
        app.tenant_id,
        app.client_id,
        assertion=c1,
        **sandbox_options(sandbox),
        **ours,
    )
    result.append(Contender("azure-wif-credential", lambda s: cred.get_token(s).token, c1, cred.close))
    c2 = Counter(sandbox, SUBJECT)
    ai = ClientAssertionCredential(
        app.tenant_id,
        app.client_id,
        c2,
        disable_instance_discovery=True,
        **sandbox_options(sandbox),
    )
    result.append(Contender("azure-identity", lambda s: ai.get_token(s).token, c2, ai.close))
    c3 = Counter(sandbox, SUBJECT)
    http = sandbox.http_client(timeout=30)
    cca = msal.ConfidentialClientApplication(
        app.client_id,
        authority=f"{sandbox.authority}/{app.tenant_id}",
        client_credential={"client_assertion": c3},
        instance_discovery=False,
        http_client=http,
    )

    def msal_get(scope: str) -> str:
        r = cca.acquire_token_for_client([scope])
        if "access_token" not in r:
            raise RuntimeError(r.get("error_description") or r.get("error"))
        return str(r["access_token"])

    result.append(Contender("msal", msal_get, c3, http.close))
    return result


def percentile(values: List[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def cache_hit(sandbox: Sandbox, scopes: int, samples: int) -> Dict[str, Dict[str, float]]:
    out = {}
    names = [f"https://res{i}.example/.default" for i in range(scopes)]
    for c in contenders(sandbox):
        for scope in names:
            c.get(scope)
        times = []
        for i in range(samples):
            scope = names[i % scopes]
            t0 = time.perf_counter_ns()
            c.get(scope)
            times.append((time.perf_counter_ns() - t0) / 1000)
        out[c.name] = {"median_us": statistics.median(times), "p99_us": percentile(times, 0.99)}
        c.close()
    return out


def cold_threads(sandbox: Sandbox, threads: int) -> Dict[str, Dict[str, int]]:
    out = {}
    sandbox.set_latency(0.05)
    try:
        for c in contenders(sandbox):
            before = sandbox.request_count("token")
            barrier = threading.Barrier(threads)
            errors: List[BaseException] = []

            def call(
                c: Contender = c, barrier: threading.Barrier = barrier, errors: List[BaseException] = errors
            ) -> None:
                barrier.wait()
                try:
                    c.get("https://storage.azure.com/.default")
                except Exception as e:
                    errors.append(e)

            ts = [threading.Thread(target=call) for _ in range(threads)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            out[c.name] = {
                "token_requests": sandbox.request_count("token") - before,
                "assertion_fetches": c.counter.calls,
                "errors": len(errors),
            }
            c.close()
    finally:
        sandbox.set_latency(0)
    return out


def across_refresh(
    sandbox: Sandbox, threads: int, duration: float, fail_status: Optional[int], settle: float
) -> Dict[str, Dict[str, float]]:
    """Callers hammer a warm key that is in its refresh window while the STS is slow (200 ms) or failing.

    All three are warmed first with refresh_in=1 s, then left for ``settle`` seconds: azure-identity
    does not try a refresh within 30 s of its previous token request, so a fair run settles 31 s.
    """
    out = {}
    field = contenders(sandbox)
    sandbox.refresh_in = 1
    try:
        for c in field:
            c.get("https://storage.azure.com/.default")
    finally:
        sandbox.refresh_in = None
    time.sleep(settle)
    sandbox.set_latency(0.2)
    if fail_status:
        sandbox.fail_next(10**6, status=fail_status)
    for c in field:
        before = sandbox.request_count("token")
        worst, failures, calls = 0.0, 0, 0
        stop = time.monotonic() + duration
        lock = threading.Lock()

        def run(c: Contender = c, stop: float = stop, lock: threading.Lock = lock) -> None:
            nonlocal worst, failures, calls
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                try:
                    c.get("https://storage.azure.com/.default")
                    ok = True
                except Exception:
                    ok = False
                dt = time.perf_counter() - t0
                with lock:
                    calls += 1
                    worst = max(worst, dt)
                    failures += 0 if ok else 1
                time.sleep(0.005)

        ts = [threading.Thread(target=run) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        out[c.name] = {
            "slowest_ms": worst * 1000,
            "failed_calls": failures,
            "calls": calls,
            "token_requests": sandbox.request_count("token") - before,
        }
    for c in field:
        c.close()
    sandbox.reset()
    return out


def import_time(module: str) -> float:
    """Cumulative import time of ``module`` in a fresh interpreter, microseconds (best of 5)."""
    best = float("inf")
    for _ in range(5):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            capture_output=True,
            text=True,
            check=True,
        )
        for line in proc.stderr.splitlines():
            m = re.match(r"import time:\s+\d+\s+\|\s+(\d+)\s+\|\s?(\S.*)$", line)
            if m and m.group(2).strip() == module:
                best = min(best, float(m.group(1)))
    return best


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer samples; no 31 s settle (azure-identity then skips refreshes)",
    )
    args = parser.parse_args()
    samples = 2000 if args.quick else 20000
    results: Dict[str, Any] = {}
    with Sandbox() as sandbox:
        results["cache_hit_1_scope"] = cache_hit(sandbox, 1, samples)
        results["cache_hit_1000_scopes"] = cache_hit(sandbox, 100 if args.quick else 1000, samples)
        results["cold_64_threads"] = cold_threads(sandbox, 64)
        settle = 1.2 if args.quick else 31.0
        results["across_refresh_200ms"] = across_refresh(sandbox, 16, 1.5, None, settle)
        results["advisory_500s"] = across_refresh(sandbox, 16, 1.5, 500, settle)
    results["import_us"] = {
        "azure_wif_credential": import_time("azure_wif_credential"),
        "azure.identity": import_time("azure.identity"),
    }
    print_table(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


def print_table(r: Dict[str, Any]) -> None:
    ours, ai, ms = "azure-wif-credential", "azure-identity", "msal"
    print(f"{'measure':44} {ours:>22} {ai:>16} {ms:>12}")
    for label, key in (
        ("cache hit, 1 scope", "cache_hit_1_scope"),
        ("cache hit, 1000 scopes", "cache_hit_1000_scopes"),
    ):
        for stat in ("median_us", "p99_us"):
            row = r[key]
            print(
                f"{label + ' ' + stat:44} {row[ours][stat]:22.2f} {row[ai][stat]:16.2f} {row[ms][stat]:12.2f}"
            )
    flat = r["cache_hit_1000_scopes"][ours]["median_us"] / r["cache_hit_1_scope"][ours]["median_us"]
    speedup = r["cache_hit_1_scope"][ai]["median_us"] / r["cache_hit_1_scope"][ours]["median_us"]
    print(f"{'  -> ours vs azure-identity (1 scope, median)':44} {speedup:21.1f}x")
    print(f"{'  -> ours 1000 scopes / 1 scope (median)':44} {flat:21.2f}x")
    for stat in ("token_requests", "assertion_fetches", "errors"):
        row = r["cold_64_threads"]
        print(
            f"{'64 cold threads: ' + stat:44} {row[ours][stat]:22d} {row[ai][stat]:16d} {row[ms][stat]:12d}"
        )
    row = r["across_refresh_200ms"]
    print(
        f"{'slowest caller across a refresh, ms':44} {row[ours]['slowest_ms']:22.1f} {row[ai]['slowest_ms']:16.1f} {row[ms]['slowest_ms']:12.1f}"
    )
    row = r["advisory_500s"]
    print(
        f"{'failed calls, STS 500 in advisory window':44} {row[ours]['failed_calls']:22d} {row[ai]['failed_calls']:16d} {row[ms]['failed_calls']:12d}"
    )
    imp = r["import_us"]
    print(
        f"{'import time, ms':44} {imp['azure_wif_credential'] / 1000:22.1f} {imp['azure.identity'] / 1000:16.1f}"
    )
    print(f"{'  -> ours / azure.identity':44} {imp['azure_wif_credential'] / imp['azure.identity']:22.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
