"""A fleet through an Entra outage, simulated on the pure flow and a virtual clock.

10,000 credentials (one key each, 1-hour tokens, issued at random moments of the hour before the
simulation) are each asked for a token once a minute by their workload. Entra fails every request for
10 minutes, then recovers. Each credential runs the library's own flow (``_flow.Flows``), slot table
and policy; only the I/O is simulated: an exchange takes no time and succeeds or fails by the clock.
The output is the rate of token requests reaching Entra per simulated second: steady state, the peak
during the outage and the peak at recovery, with the library's jittered backoff and, for contrast, with
the same backoff unjittered.

    python benchmarks/fleet_simulation.py [--credentials 10000] [--json out.json] [--png out.png]

The PNG needs matplotlib (``pip install -e ".[bench]"``).
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import logging
import random
import statistics
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from azure_wif_credential._cache import MemoryTokenCache
from azure_wif_credential._errors import TokenExchangeError
from azure_wif_credential._flow import Blocking, Flows, Run, Start, drive
from azure_wif_credential._policy import RefreshPolicy, token_from_result
from azure_wif_credential._slots import Slot, SlotTable
from azure_wif_credential._tokens import CachedToken, CacheKey

SCOPE = ("https://storage.azure.com/.default",)
TOKEN_LIFETIME = 3600.0
CALL_INTERVAL = 60.0
OUTAGE_START = 2 * 3600.0
OUTAGE_LENGTH = 600.0
DURATION = 4 * 3600.0
ASSERTION = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzaW0ifQ.c2ln"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class UnjitteredPolicy(RefreshPolicy):
    def backoff(self, failures: int, rand: Optional[float] = None) -> float:
        return super().backoff(failures, rand=1.0)


@dataclass
class Entra:
    """Counts the requests that reach it, per simulated second; fails them during the outage."""

    clock: Clock
    policy: RefreshPolicy
    requests: Counter[int] = field(default_factory=Counter)
    failures: int = 0

    def exchange(self, key: CacheKey, assertion: str, claims: Optional[str] = None) -> CachedToken:
        now = self.clock.now
        self.requests[int(now)] += 1
        if OUTAGE_START <= now < OUTAGE_START + OUTAGE_LENGTH:
            self.failures += 1
            raise TokenExchangeError("AADSTS90033: outage (simulated)", retryable=True)
        return token_from_result(self.policy, now, TOKEN_LIFETIME, None, "simulated-access-token")


class SimulatedCore:
    """What a flow needs of a credential: its policy and token cache (the shell below does the rest)."""

    def __init__(self, policy: RefreshPolicy, entra: Entra) -> None:
        self.policy = policy
        self.cache = MemoryTokenCache()
        self.exchange = entra

    def source(self) -> str:
        return ASSERTION

    def key(self, scopes: Tuple[str, ...], tenant_id: Optional[str], enable_cae: bool) -> CacheKey:
        return CacheKey(scopes, "tenant", enable_cae)


class SimulatedCredential:
    """A credential whose shell performs every effect at once on the virtual clock."""

    def __init__(self, policy: RefreshPolicy, entra: Entra) -> None:
        self.core = SimulatedCore(policy, entra)
        self.slots = SlotTable(policy)
        self.flows = Flows(self.core)
        self.errors = 0

    def slot(self) -> Slot:
        return self.slots.slot(self.core.key(SCOPE, None, False), SCOPE, None, False)

    def get_token(self) -> None:
        if self.slots.fresh(SCOPE, None, False) is not None:
            return
        try:
            drive(self.flows.get_token(self.slot(), None), self._perform)
        except TokenExchangeError:
            self.errors += 1

    def _perform(self, effect: Any) -> Any:
        if isinstance(effect, Blocking):  # the source, the exchange (simulated Entra), the cache
            return effect.call(self.core)
        if isinstance(effect, Run):  # a refresh takes no simulated time
            return drive(effect.refresh, self._perform)
        if isinstance(effect, Start):
            with contextlib.suppress(TokenExchangeError):  # a failed background refresh: counted
                drive(effect.refresh, self._perform)
            return None
        raise AssertionError(f"a single-threaded fleet never waits: {effect!r}")


def simulate(credentials: int, policy_type: type, seed: int) -> Dict[str, Any]:
    random.seed(seed)
    clock = Clock()
    policy = policy_type(clock=clock)
    entra = Entra(clock, policy)
    fleet = [SimulatedCredential(policy, entra) for _ in range(credentials)]
    # Steady state before t=0: each credential holds a token issued at a random moment of the last hour.
    for credential in fleet:
        slot = credential.slot()
        issued = -random.uniform(0, policy.refresh_on(0, TOKEN_LIFETIME))
        slot.state.token = token_from_result(policy, issued, TOKEN_LIFETIME, None, "simulated-access-token")
    calls: List[Tuple[float, int]] = [(random.uniform(0, CALL_INTERVAL), i) for i in range(credentials)]
    heapq.heapify(calls)
    while calls and calls[0][0] < DURATION:
        when, index = heapq.heappop(calls)
        clock.now = when
        fleet[index].get_token()
        heapq.heappush(calls, (when + CALL_INTERVAL, index))
    rates = [entra.requests.get(second, 0) for second in range(int(DURATION))]
    before = rates[int(OUTAGE_START - 3600) : int(OUTAGE_START)]
    during = rates[int(OUTAGE_START) : int(OUTAGE_START + OUTAGE_LENGTH)]
    after = rates[int(OUTAGE_START + OUTAGE_LENGTH) : int(OUTAGE_START + OUTAGE_LENGTH + 1800)]
    steady_mean = statistics.mean(before)
    return {
        "policy": policy_type.__name__,
        "credentials": credentials,
        "steady_mean_per_s": round(steady_mean, 2),
        "steady_peak_per_s": max(before),
        "outage_peak_per_s": max(during),
        "recovery_peak_per_s": max(after),
        "recovery_peak_over_steady_mean": round(max(after) / steady_mean, 1),
        "recovery_peak_over_steady_peak": round(max(after) / max(before), 1),
        "failed_calls": sum(c.errors for c in fleet),
        "requests_during_outage": sum(during),
        "rates": rates,
    }


def plot(results: List[Dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(10, 4.5))
    start, end = int(OUTAGE_START - 1200), int(OUTAGE_START + OUTAGE_LENGTH + 2400)
    for result in results:
        rates = result["rates"][start:end]
        smoothed = [sum(rates[i : i + 10]) / 10 for i in range(0, len(rates), 10)]
        axis.plot(
            [(start + 10 * i - OUTAGE_START) / 60 for i in range(len(smoothed))],
            smoothed,
            label=result["policy"],
        )
    axis.axvspan(0, OUTAGE_LENGTH / 60, color="red", alpha=0.1, label="Entra outage")
    axis.set_xlabel("minutes since the outage began")
    axis.set_ylabel("token requests at Entra per second (10 s mean)")
    axis.set_title(f"{results[0]['credentials']:,} credentials, 1-hour tokens, a 10-minute outage")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credentials", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write the summary (without per-second rates) here")
    parser.add_argument("--png", help="plot the request rate here (needs matplotlib)")
    options = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    results = [
        simulate(options.credentials, kind, options.seed) for kind in (RefreshPolicy, UnjitteredPolicy)
    ]
    summary = [{k: v for k, v in r.items() if k != "rates"} for r in results]
    json.dump(summary, sys.stdout, indent=2)
    print()
    if options.json:
        with open(options.json, "w") as out:
            json.dump(summary, out, indent=2)
    if options.png:
        plot(results, options.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
