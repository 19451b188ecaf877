"""Async side by side: aio.FederatedTokenCredential vs azure.identity.aio.ClientAssertionCredential, in one
process against the local sandbox over HTTPS.

    .venv/bin/python benchmarks/bench_aio.py [--json results.json] [--quick]

Reports ratios; not a test, nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any, Awaitable, Callable, Dict, List, Tuple

from _common import Counter, sandbox_options
from azure.identity.aio import ClientAssertionCredential

from azure_wif_credential.aio import FederatedTokenCredential
from azure_wif_credential.sandbox import Sandbox

SUBJECT = "system:serviceaccount:bench:aio"
OURS, THEIRS = "azure-wif-credential (aio)", "azure-identity (aio)"


Contender = Tuple[str, Callable[[str], Awaitable[Any]], Counter, Callable[[], Awaitable[None]]]


def contenders(sandbox: Sandbox) -> List[Contender]:
    app = sandbox.register_app(subject=SUBJECT)
    c1, c2 = Counter(sandbox, SUBJECT), Counter(sandbox, SUBJECT)
    ours = FederatedTokenCredential(
        app.tenant_id,
        app.client_id,
        assertion=c1,
        **sandbox_options(sandbox),
    )
    theirs = ClientAssertionCredential(
        app.tenant_id,
        app.client_id,
        c2,
        disable_instance_discovery=True,
        **sandbox_options(sandbox),
    )
    return [(OURS, ours.get_token, c1, ours.close), (THEIRS, theirs.get_token, c2, theirs.close)]


async def cache_hit(sandbox: Sandbox, scopes: int, samples: int) -> Dict[str, Dict[str, float]]:
    out = {}
    names = [f"https://res{i}.example/.default" for i in range(scopes)]
    for name, get, _, close in contenders(sandbox):
        for scope in names:
            await get(scope)
        times = []
        for i in range(samples):
            t0 = time.perf_counter_ns()
            await get(names[i % scopes])
            times.append((time.perf_counter_ns() - t0) / 1000)
        times.sort()
        out[name] = {"median_us": statistics.median(times), "p99_us": times[int(len(times) * 0.99)]}
        await close()
    return out


async def cold_tasks(sandbox: Sandbox, tasks: int) -> Dict[str, Dict[str, int]]:
    out = {}
    sandbox.set_latency(0.05)
    try:
        for name, get, counter, close in contenders(sandbox):
            before = sandbox.request_count("token")
            results = await asyncio.gather(
                *(get("https://storage.azure.com/.default") for _ in range(tasks)), return_exceptions=True
            )
            out[name] = {
                "token_requests": sandbox.request_count("token") - before,
                "assertion_fetches": counter.calls,
                "errors": sum(isinstance(r, BaseException) for r in results),
            }
            await close()
    finally:
        sandbox.set_latency(0)
    return out


async def run(quick: bool) -> Dict[str, Any]:
    samples = 2000 if quick else 20000
    with Sandbox() as sandbox:
        return {
            "cache_hit_1_scope": await cache_hit(sandbox, 1, samples),
            "cache_hit_1000_scopes": await cache_hit(sandbox, 100 if quick else 1000, samples),
            "cold_64_tasks": await cold_tasks(sandbox, 64),
        }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--quick", action="store_true", help="fewer samples and scopes")
    args = parser.parse_args()
    r = asyncio.run(run(args.quick))
    print(f"{'measure':40} {OURS:>28} {THEIRS:>22}")
    for label, key in (
        ("cache hit, 1 scope", "cache_hit_1_scope"),
        ("cache hit, 1000 scopes", "cache_hit_1000_scopes"),
    ):
        for stat in ("median_us", "p99_us"):
            print(f"{label + ' ' + stat:40} {r[key][OURS][stat]:28.2f} {r[key][THEIRS][stat]:22.2f}")
    speedup = r["cache_hit_1_scope"][THEIRS]["median_us"] / r["cache_hit_1_scope"][OURS]["median_us"]
    flat = r["cache_hit_1000_scopes"][OURS]["median_us"] / r["cache_hit_1_scope"][OURS]["median_us"]
    print(f"{'  -> ours vs azure-identity (median)':40} {speedup:27.1f}x")
    print(f"{'  -> ours 1000 scopes / 1 scope (median)':40} {flat:27.2f}x")
    for stat in ("token_requests", "assertion_fetches", "errors"):
        row = r["cold_64_tasks"]
        print(f"{'64 cold tasks: ' + stat:40} {row[OURS][stat]:28d} {row[THEIRS][stat]:22d}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
