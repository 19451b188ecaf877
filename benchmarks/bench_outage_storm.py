"""Token requests a failing STS receives from callers that call in a loop: ours, side by side with
azure-identity's ClientAssertionCredential, in one run.

64 threads each call ``get_token`` in a loop for a few seconds while the sandbox's STS answers every
request with 429 and ``Retry-After: 1`` (``retry_total=0``: callers that fail fast), first with no
token cached, then with a valid token in its mandatory window. The rate of requests at the STS is what
an outage costs Entra per key.

    python benchmarks/bench_outage_storm.py [--seconds 5] [--threads 64] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from _common import Counter, sandbox_options
from azure.identity import ClientAssertionCredential

from azure_wif_credential import FederatedTokenCredential
from azure_wif_credential.sandbox import Sandbox

SUBJECT = "system:serviceaccount:bench:storm"
SCOPE = "https://storage.azure.com/.default"


def storm(sandbox: Sandbox, credential: Any, threads: int, seconds: float) -> Dict[str, float]:
    sandbox.reset()
    sandbox.fail_next(1_000_000, status=429, retry_after=1)
    stop = time.monotonic() + seconds
    calls: List[int] = []
    served: List[int] = []

    def caller() -> None:
        made = ok = 0
        while time.monotonic() < stop:
            made += 1
            try:
                credential.get_token(SCOPE)
                ok += 1
            except Exception:
                pass
        calls.append(made)
        served.append(ok)

    workers = [threading.Thread(target=caller) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    requests = sandbox.request_count("token")
    sandbox.reset()
    return {
        "calls_per_s": round(sum(calls) / seconds),
        "token_requests_per_s": round(requests / seconds, 1),
        "calls_served_a_token": sum(served),
    }


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # one WARNING per failed refresh would dominate the run
    results: Dict[str, Dict[str, Any]] = {}
    with Sandbox() as sandbox:
        app = sandbox.register_app(subject=SUBJECT)
        makers: Dict[str, Callable[[], Any]] = {
            "azure-wif-credential": lambda: FederatedTokenCredential(
                app.tenant_id, app.client_id, assertion=Counter(sandbox, SUBJECT), **sandbox_options(sandbox)
            ),
            "azure-identity ClientAssertionCredential": lambda: ClientAssertionCredential(
                app.tenant_id,
                app.client_id,
                Counter(sandbox, SUBJECT),
                disable_instance_discovery=True,
                **sandbox_options(sandbox),
            ),
        }
        for name, make in makers.items():
            credential = make()
            try:
                results[name] = storm(sandbox, credential, args.threads, args.seconds)
            finally:
                credential.close()
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"threads": args.threads, "seconds": args.seconds, "results": results}, out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
