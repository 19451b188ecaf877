"""``from_environment()``: the settings Azure workload identity and CI platforms put in the environment.

Nothing here raises for a missing variable: the credential is built in an "unavailable" state whose
``get_token`` raises CredentialUnavailableError naming what is missing, so a chain moves on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional

from ._pipeline import is_async_transport

TENANT_ID = "AZURE_TENANT_ID"
CLIENT_ID = "AZURE_CLIENT_ID"
AUTHORITY_HOST = "AZURE_AUTHORITY_HOST"
ALLOWED_TENANTS = "AZURE_ADDITIONALLY_ALLOWED_TENANTS"  # ';'-separated, as azure-identity reads it
TOKEN_FILE = "AZURE_FEDERATED_TOKEN_FILE"
#: A CA bundle to trust (the sandbox exports it): the CLI's --ca-file default, and from_environment()'s
#: connection_verify= when neither it nor transport= is given.
CA_FILE = "AZURE_WIF_CA_FILE"
ASSERTION_SOURCE = "AZURE_WIF_ASSERTION_SOURCE"
#: The identity that manages trust (``trust``, ``doctor``): an app allowed to read and write app
#: registrations' FICs, never the workload whose exchange is being diagnosed. Its tenant defaults to
#: AZURE_TENANT_ID; its assertion comes from its own token file, else from the workload's source.
GRAPH_CLIENT_ID = "AZURE_WIF_GRAPH_CLIENT_ID"
GRAPH_TENANT_ID = "AZURE_WIF_GRAPH_TENANT_ID"
GRAPH_TOKEN_FILE = "AZURE_WIF_GRAPH_TOKEN_FILE"


@dataclass
class EnvironmentSettings:
    tenant_id: Optional[str]
    client_id: Optional[str]
    authority: Optional[str]
    source: Optional[Callable[[], Any]]
    source_description: str = ""
    missing: List[str] = field(default_factory=list)
    additionally_allowed_tenants: List[str] = field(default_factory=list)

    @property
    def unavailable_message(self) -> Optional[str]:
        if not self.missing:
            return None
        return (
            "FederatedTokenCredential.from_environment() is unavailable: "
            + "; ".join(self.missing)
            + ". On Kubernetes, Azure Workload Identity's webhook sets these for pods labelled "
            "azure.workload.identity/use=true."
        )


def authority_host(environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """AZURE_AUTHORITY_HOST, or None when it is unset or empty (the one place it is read)."""
    env = os.environ if environ is None else environ
    return env.get(AUTHORITY_HOST) or None


#: "true" sends token requests through the AKS token proxy (enable_azure_proxy=True), for from_environment().
ENABLE_AZURE_PROXY = "AZURE_WIF_ENABLE_AZURE_PROXY"


def azure_proxy_enabled(environ: Optional[Mapping[str, str]] = None) -> bool:
    """Whether AZURE_WIF_ENABLE_AZURE_PROXY asks for the AKS token proxy ("1", "true" or "yes")."""
    env = os.environ if environ is None else environ
    return env.get(ENABLE_AZURE_PROXY, "").strip().lower() in ("1", "true", "yes")


def ca_file_option(options: Mapping[str, Any], environ: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """``options`` with ``connection_verify`` from AZURE_WIF_CA_FILE when the caller chose no TLS setting
    (neither ``connection_verify=`` nor ``transport=``)."""
    env = os.environ if environ is None else environ
    ca_file = env.get(CA_FILE)
    if not ca_file or "connection_verify" in options or options.get("transport") is not None:
        return dict(options)
    return {**options, "connection_verify": ca_file}


def trust_manager_environment(environ: Optional[Mapping[str, str]] = None) -> Optional[Dict[str, str]]:
    """The environment as the trust-managing identity sees it (``AZURE_WIF_GRAPH_*`` in place of the
    workload's ids and token file), or None when ``AZURE_WIF_GRAPH_CLIENT_ID`` is not set."""
    env = dict(os.environ if environ is None else environ)
    client_id = env.get(GRAPH_CLIENT_ID)
    if not client_id:
        return None
    env[CLIENT_ID] = client_id
    env[TENANT_ID] = env.get(GRAPH_TENANT_ID) or env.get(TENANT_ID, "")
    if env.get(GRAPH_TOKEN_FILE):
        env[TOKEN_FILE] = env[GRAPH_TOKEN_FILE]
        env[ASSERTION_SOURCE] = "file"
    return env


def read_environment(
    environ: Optional[Mapping[str, str]] = None, *, authority: Optional[str] = None, **options: Any
) -> EnvironmentSettings:
    """What the environment provides. ``authority`` (explicit, else AZURE_AUTHORITY_HOST) picks the CI
    sources' audience for sovereign clouds; the pipeline ``options`` also configure network sources."""
    from ._config import PIPELINE_OPTIONS
    from .assertions._detect import DETECTION_ORDER, assertion_from_environment

    env = os.environ if environ is None else environ
    tenant_id = env.get(TENANT_ID) or None
    client_id = env.get(CLIENT_ID) or None
    authority = authority or authority_host(env)
    missing = [
        f"{name} is not set" for name, value in ((TENANT_ID, tenant_id), (CLIENT_ID, client_id)) if not value
    ]
    source: Optional[Callable[[], Any]] = None
    description = ""
    # The sources' token requests share the credential's pipeline options (one connection_verify= serves
    # both), except an async transport: the CI sources are synchronous, so they build their own.
    network_options = {k: v for k, v in options.items() if k in PIPELINE_OPTIONS}
    if is_async_transport(network_options.get("transport")):
        del network_options["transport"]
    try:
        found = assertion_from_environment(env, authority, **network_options)
    except ValueError as error:  # AZURE_WIF_ASSERTION_SOURCE names no source we know
        found = None
        missing.append(str(error))
    else:
        if found is None:
            missing.append(f"no assertion source found (looked for {DETECTION_ORDER})")
        else:
            source, description = found
    allowed = [t.strip() for t in env.get(ALLOWED_TENANTS, "").split(";") if t.strip()]
    return EnvironmentSettings(tenant_id, client_id, authority, source, description, missing, allowed)
