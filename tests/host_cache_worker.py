"""One short process of a fleet, for the host-wide cache tests and benchmark:
``python host_cache_worker.py '<json settings>'``.

It waits for the ``go`` file (so N processes start at once), gets one token with the credential the
settings name ("ours" with or without ``cache``, or azure-identity's ClientAssertionCredential), and
prints one JSON line: a hash of the token (never the token), its refresh_on, and the seconds from
the start of this script to the token. Each assertion fetch appends a line to ``fetches``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import time
from typing import Any, Dict

START = time.perf_counter()


def main(settings: Dict[str, Any]) -> None:
    from azure.identity import TokenCachePersistenceOptions

    def assertion() -> str:
        with open(settings["fetches"], "a") as log:
            log.write(f"{os.getpid()}\n")
        return str(settings["assertion"])

    # Everything imported before the start signal, for every kind alike: the race is the token's.
    import msal  # noqa: F401  (ours imports it lazily, at the first exchange)
    from azure.identity import ClientAssertionCredential

    from azure_wif_credential import FederatedTokenCredential
    from azure_wif_credential.aio import FederatedTokenCredential as AioCredential

    go = settings.get("go")
    while go and not os.path.exists(go):
        time.sleep(0.002)
    started = time.perf_counter()
    options: Dict[str, Any] = {"authority": settings["authority"], "connection_verify": settings["ca_file"]}
    cache = settings.get("cache")
    if cache:
        options["cache_persistence_options"] = TokenCachePersistenceOptions(
            name=cache, allow_unencrypted_storage=True
        )
    scopes = settings.get("scopes", ["https://storage.azure.com/.default"])
    kind = settings.get("kind", "ours")
    if kind == "azure-identity":
        credential: Any = ClientAssertionCredential(
            settings["tenant_id"],
            settings["client_id"],
            assertion,
            disable_instance_discovery=True,
            **options,
        )
        info = credential.get_token_info(*scopes)
    elif kind == "ours-aio":

        async def run() -> Any:
            async with AioCredential(
                settings["tenant_id"], settings["client_id"], assertion=assertion, **options
            ) as aio:
                return await aio.get_token_info(*scopes)

        info = asyncio.run(run())
    else:
        credential = FederatedTokenCredential(
            settings["tenant_id"], settings["client_id"], assertion=assertion, **options
        )
        info = credential.get_token_info(*scopes, options={"enable_cae": bool(settings.get("cae"))})
    done = time.perf_counter()
    # An expired token is never a token, also when it was read from the host cache.
    assert info.expires_on > time.time(), "an expired token was returned"
    print(
        json.dumps(
            {
                "token": hashlib.sha256(info.token.encode()).hexdigest()[:16],
                "refresh_on": info.refresh_on,
                "seconds": done - START,
                "seconds_after_go": done - started,
            }
        )
    )


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
