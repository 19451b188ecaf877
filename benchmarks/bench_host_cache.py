"""The host-wide token cache, side by side: many short processes on one host against the sandbox.

For ours with ``cache_persistence_options``, ours without, and azure-identity's
``ClientAssertionCredential`` with ``TokenCachePersistenceOptions(allow_unencrypted_storage=True)``:
16 processes started at once and 40 one after another (token requests, discovery requests, assertion
fetches; median seconds from a process's start to its first token), and one process's cache-hit
latency with persistence on and off.

    python benchmarks/bench_host_cache.py [--json results-host-cache.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

from azure.identity import TokenCachePersistenceOptions

from azure_wif_credential import FederatedTokenCredential
from azure_wif_credential.sandbox import Sandbox

WORKER = str(Path(__file__).resolve().parent.parent / "tests" / "host_cache_worker.py")
SUBJECT = "system:serviceaccount:bench:host-cache"
VARIANTS = {
    "ours, persistent": {"kind": "ours", "cache": "bench"},
    "ours, in memory": {"kind": "ours"},
    "azure-identity, persistent": {"kind": "azure-identity", "cache": "bench"},
}


def run_fleet(sandbox: Sandbox, settings: Dict[str, Any], count: int, together: bool) -> Dict[str, Any]:
    app = sandbox.register_app(subject=SUBJECT)
    sandbox.reset()
    with tempfile.TemporaryDirectory() as home:
        fetches, go = Path(home, "fetches"), Path(home, "go")
        fetches.touch()
        arguments = {
            **settings,
            "tenant_id": app.tenant_id,
            "client_id": app.client_id,
            "authority": sandbox.authority,
            "ca_file": sandbox.ca_file,
            "assertion": sandbox.issue_assertion(subject=SUBJECT, lifetime=3600),
            "fetches": str(fetches),
            "go": str(go) if together else None,
        }
        env = {**os.environ, "HOME": home}
        command = [sys.executable, WORKER, json.dumps(arguments)]
        outputs: List[str] = []
        if together:
            processes = [
                subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) for _ in range(count)
            ]
            time.sleep(1.5)
            go.touch()
            outputs = [p.communicate(timeout=120)[0] for p in processes]
        else:
            for _ in range(count):
                outputs.append(
                    subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
                )
        results = [json.loads(o) for o in outputs]
        return {
            "token_requests": sandbox.request_count("token"),
            "discovery_requests": sandbox.request_count("openid-configuration")
            + sandbox.request_count("instance-discovery"),
            "assertion_fetches": len(fetches.read_text().split()),
            # at once: from the go signal; in a row: from the process's start (imports included)
            "median_s_to_first_token": round(
                statistics.median(r["seconds_after_go" if together else "seconds"] for r in results), 3
            ),
        }


def cache_hit_us(sandbox: Sandbox, persistent: bool) -> float:
    app = sandbox.register_app(subject=SUBJECT)
    assertion = sandbox.issue_assertion(subject=SUBJECT, lifetime=3600)
    with tempfile.TemporaryDirectory() as home:
        os.environ["HOME"] = home
        extra: Dict[str, Any] = {}
        if persistent:
            extra["cache_persistence_options"] = TokenCachePersistenceOptions(
                name="hit", allow_unencrypted_storage=True
            )
        with FederatedTokenCredential(
            app.tenant_id,
            app.client_id,
            assertion=lambda: assertion,
            authority=sandbox.authority,
            connection_verify=sandbox.ca_file,
            **extra,
        ) as credential:
            scope = "https://storage.azure.com/.default"
            credential.get_token(scope)
            samples = []
            for _ in range(15):
                started = time.perf_counter()
                for _ in range(20_000):
                    credential.get_token(scope)
                samples.append((time.perf_counter() - started) / 20_000 * 1e6)
            return round(statistics.median(samples), 2)


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json")
    options = parser.parse_args(argv)
    home = os.environ.get("HOME", "")
    results: Dict[str, Any] = {}
    with Sandbox() as sandbox:
        for name, settings in VARIANTS.items():
            results[name] = {
                "16 at once": run_fleet(sandbox, settings, 16, together=True),
                "40 in a row": run_fleet(sandbox, settings, 40, together=False),
            }
        results["cache hit, µs median"] = {
            "persistent": cache_hit_us(sandbox, True),
            "in memory": cache_hit_us(sandbox, False),
        }
    os.environ["HOME"] = home
    print(json.dumps(results, indent=2))
    if options.json:
        Path(options.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
