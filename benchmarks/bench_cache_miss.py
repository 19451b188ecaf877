"""The cost of a cache miss, side by side in one process: FederatedTokenCredential, azure-identity's
ClientAssertionCredential and raw MSAL ``acquire_token_for_client``, each asked for a scope it has never
seen (so each call is one token request) on a warm connection to the local sandbox.

    .venv/bin/python benchmarks/bench_cache_miss.py [--calls 300] [--rounds 5] [--json out.json]

Rounds alternate the contenders so the machine's drift spreads over all; the result is each one's
median seconds per miss and its ratio to raw MSAL (as it comes: its cache keeps every token of the run,
and each call searches them; and with its token cache emptied before each call, as our adapter does). Not a test: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from typing import Dict, List, Optional

import msal
from _common import Counter
from bench_credentials import SUBJECT, Contender, contenders

from azure_wif_credential.sandbox import Sandbox


def fresh_cache_msal(sandbox: Sandbox) -> Contender:
    """Raw MSAL whose token cache is emptied before each call (as our adapter empties it), so a miss
    costs the request and not a search through every token of the run."""
    app = sandbox.register_app(subject=SUBJECT)
    counter, http = Counter(sandbox, SUBJECT), sandbox.http_client(timeout=30)
    cca = msal.ConfidentialClientApplication(
        app.client_id,
        authority=f"{sandbox.authority}/{app.tenant_id}",
        client_credential={"client_assertion": counter},
        instance_discovery=False,
        http_client=http,
    )
    cache = cca.token_cache

    def get(scope: str) -> str:
        for entry in list(cache.search(cache.CredentialType.ACCESS_TOKEN)):
            cache.remove_at(entry)
        result = cca.acquire_token_for_client([scope])
        return str(result["access_token"])

    return Contender("msal, its cache emptied per call", get, counter, http.close)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="misses per contender per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    per_call: Dict[str, List[float]] = {}
    with Sandbox(token_lifetime=3600) as sandbox:
        everyone = [*contenders(sandbox), fresh_cache_msal(sandbox)]
        for c in everyone:  # warm: discovery done, a connection open
            c.get("https://warm.example/.default")
        serial = 0
        for _ in range(args.rounds):
            for c in everyone:
                scopes = [f"https://miss{serial + i}.example/.default" for i in range(args.calls)]
                serial += args.calls
                gc.collect()
                started = time.perf_counter()
                for scope in scopes:
                    c.get(scope)
                per_call.setdefault(c.name, []).append((time.perf_counter() - started) / args.calls)
        for c in everyone:
            c.close()
    medians = {name: statistics.median(values) for name, values in per_call.items()}
    results = {
        name: {
            "median_ms_per_miss": round(seconds * 1000, 3),
            "ratio_to_msal": round(seconds / medians["msal"], 3),
        }
        for name, seconds in medians.items()
    }
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"calls": args.calls, "rounds": args.rounds, "results": results}, out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
