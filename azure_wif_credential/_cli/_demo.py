"""``azure-wif-credential demo``: the whole flow, offline, on the embedded sandbox.

A Kubernetes-like workload (a token file kept fresh as kubelet does) gets an Entra token with
``FederatedTokenCredential.from_environment()``, shows what Entra would say when the trust does not
match, and — where Azurite is installed — writes and reads a blob with ``BlobServiceClient``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from typing import Any, Callable, List, Optional

from .._claims import format_time, unverified_claims
from .._credential import FederatedTokenCredential
from .._errors import TokenExchangeError

SUBJECT = "system:serviceaccount:demo:workload"
STORAGE_SCOPE = "https://storage.azure.com/.default"


def run(argv: Optional[List[str]] = None, out: Callable[[str], Any] = print) -> int:
    parser = argparse.ArgumentParser(
        prog="azure-wif-credential demo",
        description="The whole flow, offline: an embedded Entra sandbox, a Kubernetes-like token file, a "
        "token through FederatedTokenCredential.from_environment(), what Entra says when the trust does "
        "not match, and a blob round trip on Azurite (when it is installed).",
    )
    parser.add_argument("--no-azurite", action="store_true", help="skip the Azure Storage (Azurite) step")
    args = parser.parse_args(argv or [])
    from ..testing.sandbox import Sandbox
    from ..testing.sandbox._token_file import TokenFile

    step = _Steps(out)
    with Sandbox() as sandbox, tempfile.TemporaryDirectory(prefix="wif-demo-") as workdir:
        step(
            "Started the embedded Entra sandbox",
            f"authority {sandbox.authority}, external issuer {sandbox.issuer}",
        )
        app = sandbox.register_app(subject=SUBJECT)
        step(
            "Registered an app with a federated identity credential",
            f"tenant {app.tenant_id}, client {app.client_id}; trusts issuer={sandbox.issuer} "
            f"subject={SUBJECT} audience=api://AzureADTokenExchange",
        )

        token_path = os.path.join(workdir, "azure-identity-token")
        token_file = TokenFile(
            token_path, lambda: sandbox.issue_assertion(subject=SUBJECT, lifetime=3600), lifetime=3600
        )
        token_file.write()
        stop = threading.Event()
        kubelet = threading.Thread(
            target=token_file.keep_fresh, args=(stop,), name="demo-kubelet", daemon=True
        )
        kubelet.start()
        environment = {
            "AZURE_AUTHORITY_HOST": sandbox.authority,
            "AZURE_TENANT_ID": app.tenant_id,
            "AZURE_CLIENT_ID": app.client_id,
            "AZURE_FEDERATED_TOKEN_FILE": token_path,
        }
        os.environ.update(environment)
        step(
            "Playing a Kubernetes pod: kubelet keeps a projected token file fresh",
            "\n".join(f"export {k}={v}" for k, v in environment.items()),
        )
        try:
            with FederatedTokenCredential.from_environment(connection_verify=sandbox.ca_file) as credential:
                started = time.perf_counter()
                info = credential.get_token_info(STORAGE_SCOPE)
                elapsed = (time.perf_counter() - started) * 1000
                claims = unverified_claims(info.token)
                step(
                    f"FederatedTokenCredential.from_environment().get_token_info({STORAGE_SCOPE!r}) in {elapsed:.0f} ms",
                    f"expires {format_time(info.expires_on)}; refreshed in the background from "
                    f"{format_time(info.refresh_on)}\n"
                    "The claims that matter (the token itself is never printed):\n"
                    + explain_claims(claims)
                    + "\nAll claims:\n"
                    + json.dumps({k: claims[k] for k in sorted(claims)}, indent=2),
                )
                started = time.perf_counter()
                credential.get_token(STORAGE_SCOPE)
                step(
                    "Asked again: served from the cache",
                    f"{(time.perf_counter() - started) * 1e6:.0f} µs, token requests so far: "
                    f"{sandbox.request_count('token')}",
                )
                _explain_a_mismatch(step, sandbox, app)
                if args.no_azurite:
                    step("Skipped Azure Storage", "--no-azurite was given")
                else:
                    _blob_round_trip(step, credential)
        finally:
            stop.set()
            kubelet.join()
            for name in environment:
                os.environ.pop(name, None)
    step("Done", "the sandbox and its files are gone")
    return 0


#: What each claim a newcomer should look at means, and why it matters.
CLAIM_MEANINGS = {
    "aud": "audience: the resource the token is for; it must match the scope you asked (storage here)",
    "iss": "issuer: the Entra tenant that signed it (resources accept only tokens of trusted issuers)",
    "sub": "subject: who the token is about (the app's service principal)",
    "appid": "the application (client) id of your app registration: AZURE_CLIENT_ID",
    "tid": "the tenant (directory) id: AZURE_TENANT_ID",
    "xms_cc": "client capabilities: ['CP1'] when the token is CAE-capable (enable_cae=True)",
    "exp": "expiry, as a Unix time",
}


def explain_claims(claims: Any) -> str:
    lines = []
    for name, meaning in CLAIM_MEANINGS.items():
        value = claims.get(name, "(absent)")
        shown = format_time(value) if name == "exp" else json.dumps(value)
        lines.append(f"  {name:<6} = {shown}\n           {meaning}")
    return "\n".join(lines)


class _Steps:
    def __init__(self, out: Callable[[str], Any]) -> None:
        self._out = out
        self._n = 0

    def __call__(self, title: str, detail: str = "") -> None:
        self._n += 1
        self._out(f"[{self._n}] {title}")
        for line in detail.splitlines():
            self._out(f"    {line}")


def _explain_a_mismatch(step: _Steps, sandbox: Any, app: Any) -> None:
    wrong = "system:serviceaccount:demo:other"
    with FederatedTokenCredential(
        app.tenant_id,
        app.client_id,
        assertion=lambda: str(sandbox.issue_assertion(subject=wrong)),
        authority=sandbox.authority,
        connection_verify=sandbox.ca_file,
    ) as credential:
        try:
            credential.get_token(STORAGE_SCOPE)
        except TokenExchangeError as error:
            step(f"A pod with service account {wrong!r} is refused, and told why", str(error))
        else:  # pragma: no cover - the sandbox must refuse it
            raise RuntimeError("the sandbox accepted an untrusted subject")


def _blob_round_trip(step: _Steps, credential: FederatedTokenCredential) -> None:
    from ..testing import AZURITE_VARIABLE, Azurite, find_azurite

    found = find_azurite()
    if found is None:
        step(
            "Skipped Azure Storage: Azurite is not installed",
            "it needs Node.js and `npm ci` in this repository (README's test command installs it), "
            f"azurite-blob on PATH, or ${AZURITE_VARIABLE} naming it",
        )
        return
    executable, where = found
    try:
        from azure.storage.blob import BlobServiceClient
    except ImportError:
        step("Skipped Azure Storage: azure-storage-blob is not installed", "pip install azure-storage-blob")
        return
    with Azurite(executable=executable) as azurite:
        client = BlobServiceClient(
            azurite.account_url, credential=credential, connection_verify=azurite.ca_file
        )
        with client:
            container = client.create_container("demo")
            container.upload_blob("hello.txt", b"written with a federated token, no secrets")
            data = container.download_blob("hello.txt").readall()
        step(
            "Azure Storage (Azurite, OAuth on): created a container, uploaded and downloaded a blob",
            f"Azurite {executable} (found in {where})\n{azurite.account_url}/demo/hello.txt -> {data.decode()!r}",
        )
