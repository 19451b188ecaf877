"""Constructor arguments, checked once and shared by the sync and the async credential."""

from __future__ import annotations

import difflib
import ipaddress
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Optional, Tuple
from urllib.parse import urlparse

from azure.core.exceptions import ClientAuthenticationError

from ._environment import authority_host
from ._pipeline import check_option_types
from ._policy import RefreshPolicy

PUBLIC_CLOUD = "https://login.microsoftonline.com"
_LOGGER = logging.getLogger("azure_wif_credential")

_TENANT_RE = re.compile(r"^[0-9A-Za-z\-.]+$")

#: azure-core pipeline options we understand (forwarded to the HTTP pipeline that MSAL uses).
PIPELINE_OPTIONS = frozenset(
    {
        "transport",
        "connection_verify",
        "connection_cert",
        "connection_timeout",
        "read_timeout",
        "connection_data_block_size",
        "proxies",
        "logging_enable",
        "headers",
        "user_agent",
        "user_agent_overwrite",
        "retry_total",
        "retry_connect",
        "retry_read",
        "retry_status",
        "retry_backoff_factor",
        "retry_backoff_max",
        "retry_mode",
        "timeout",
        "session",
        "policies",
    }
)
_OTHER_OPTIONS = frozenset({"refresh_policy", "cache_persistence_options"})
CONSTRUCTOR_KEYWORDS = frozenset(
    {
        "assertion",
        "token_file",
        "authority",
        "additionally_allowed_tenants",
        "disable_instance_discovery",
        "enable_azure_proxy",
    }
)


def validate_tenant_id(tenant_id: Any, name: str = "tenant_id") -> None:
    """A tenant as Entra accepts it (a GUID or a domain name), safe to put in a request path."""
    if not isinstance(tenant_id, str):
        raise TypeError(
            f"{name} must be a string (the directory id or a domain), not {type(tenant_id).__name__}"
        )
    if (
        not _TENANT_RE.fullmatch(tenant_id)
        or len(tenant_id) > 256
        or tenant_id.startswith(".")
        or tenant_id.endswith(".")
        or ".." in tenant_id
    ):
        raise ValueError(
            f"Invalid {name} {tenant_id[:80]!r}: use the directory (tenant) id or a domain name "
            "(letters, digits, '-' and '.' only; no leading, trailing or repeated dots)."
        )


def normalize_authority(authority: Optional[str]) -> str:
    """``https://host[:port]`` from a host or URL; http, paths, queries, fragments, userinfo and
    whitespace are refused."""
    if authority is not None and not isinstance(authority, str):
        raise TypeError(f"authority must be a string (a host or https URL), not {type(authority).__name__}")
    source = "authority" if authority else "AZURE_AUTHORITY_HOST"
    raw = authority or authority_host() or PUBLIC_CLOUD
    value = raw.strip()
    # A backslash is refused: URL parsers disagree about it (a host to one is a path to another).
    if not value or "\\" in value or any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError(f"{source} must be a host such as 'login.microsoftonline.com', got {raw[:80]!r}")
    if not value.partition("://")[2].strip("/") and "://" in value:
        raise ValueError(f"{source} has no host: {value!r} (use e.g. 'https://login.microsoftonline.com')")
    value = value.rstrip("/")
    if "://" not in value:
        value = "https://" + value
    parsed = urlparse(value)
    if parsed.scheme != "https":
        raise ValueError(
            f"{source} must use https, got {value!r}: Entra only accepts assertions over TLS (for the "
            "local sandbox use sandbox.authority, which is https, with connection_verify=sandbox.ca_file)."
        )
    try:
        parsed.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise ValueError(f"{source} has an invalid port: {value!r}") from None
    if (
        not parsed.hostname
        or "@" in parsed.netloc
        or parsed.path not in ("", "/")
        or parsed.query
        or parsed.fragment
        or "?" in value
        or "#" in value
    ):
        raise ValueError(
            f"{source} must be a host such as 'https://login.microsoftonline.com', got {value!r} "
            "(no user name, path, query or fragment: the tenant goes in tenant_id, not in the authority)."
        )
    return f"https://{parsed.netloc}"


def is_loopback(authority: str) -> bool:
    host = urlparse(authority).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_options(kwargs: Dict[str, Any], owner: str) -> None:
    """Unknown keyword arguments are an error, with a suggestion, not silently ignored."""
    unknown = [k for k in kwargs if k not in PIPELINE_OPTIONS and k not in _OTHER_OPTIONS]
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(
            name, sorted(PIPELINE_OPTIONS | _OTHER_OPTIONS | CONSTRUCTOR_KEYWORDS), n=1
        )
        suggestion = f" Did you mean {close[0]!r}?" if close else ""
        raise TypeError(f"{owner}() got an unexpected keyword argument {name!r}.{suggestion}")


def allowed_tenants(value: Optional[Iterable[str]]) -> Tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)):
        raise TypeError(
            "additionally_allowed_tenants must be a list of tenant ids (or ['*']), not a single string: "
            f"use [{value!r}]"
        )
    try:
        tenants = tuple(value)
    except TypeError:
        raise TypeError(
            f"additionally_allowed_tenants must be a list of tenant ids, not {type(value).__name__}"
        ) from None
    for tenant in tenants:
        if tenant != "*":
            validate_tenant_id(tenant, "additionally_allowed_tenants entry")
    return tenants


@dataclass(frozen=True)
class CredentialConfig:
    tenant_id: str
    client_id: str
    authority: str
    additionally_allowed_tenants: Tuple[str, ...]
    instance_discovery: bool
    pipeline_options: Dict[str, Any] = field(default_factory=dict, compare=False)
    refresh_policy: RefreshPolicy = field(default_factory=RefreshPolicy)
    cache_persistence_options: Any = field(default=None, compare=False)

    @classmethod
    def build(
        cls,
        tenant_id: str,
        client_id: str,
        *,
        authority: Optional[str],
        additionally_allowed_tenants: Optional[Iterable[str]],
        disable_instance_discovery: bool,
        options: Dict[str, Any],
    ) -> CredentialConfig:
        validate_tenant_id(tenant_id)
        if not isinstance(client_id, str):
            raise TypeError(f"client_id must be a string, not {type(client_id).__name__}")
        if (
            not client_id
            or any(c.isspace() or not c.isprintable() for c in client_id)
            or len(client_id) > 256
        ):
            raise ValueError(
                "client_id must be the app registration's Application (client) ID "
                f"(no spaces or control characters), got {client_id[:80]!r}"
            )
        options = dict(options)  # checked by the caller (CredentialCore), before anything else
        refresh_policy = options.pop("refresh_policy", None) or RefreshPolicy()
        if not isinstance(refresh_policy, RefreshPolicy):
            raise TypeError(f"refresh_policy must be a RefreshPolicy, not {type(refresh_policy).__name__}")
        persistence = options.pop("cache_persistence_options", None)
        check_option_types(options)
        allowed = allowed_tenants(additionally_allowed_tenants)
        normalized = normalize_authority(authority)
        return cls(
            tenant_id=tenant_id,
            client_id=client_id,
            authority=normalized,
            additionally_allowed_tenants=allowed,
            instance_discovery=not (disable_instance_discovery or is_loopback(normalized)),
            pipeline_options=options,
            refresh_policy=refresh_policy,
            cache_persistence_options=persistence,
        )

    def resolve_tenant(self, requested: Optional[str]) -> str:
        """The tenant for one request: the configured one unless another is allowed."""
        if not requested or requested == self.tenant_id:
            return self.tenant_id
        validate_tenant_id(requested)
        if os.environ.get(
            "AZURE_IDENTITY_DISABLE_MULTITENANTAUTH"
        ):  # as azure-identity: use the configured one
            _LOGGER.info(
                "A token was requested for tenant %s, but multi-tenant authentication is disabled "
                "(AZURE_IDENTITY_DISABLE_MULTITENANTAUTH): using the configured tenant %s",
                requested,
                self.tenant_id,
            )
            return self.tenant_id
        allowed = self.additionally_allowed_tenants
        if "*" in allowed or requested in allowed:
            return requested
        raise ClientAuthenticationError(
            message=f"The credential is configured for tenant {self.tenant_id!r} and may not acquire tokens "
            f"for tenant {requested!r}. To allow it, add it to additionally_allowed_tenants "
            "(or use ['*'] for any tenant)."
        )
