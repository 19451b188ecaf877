"""The azure-core pipeline settings of every HTTP call we make: Entra token exchanges (through MSAL)
and the CI sources' token requests. Same options as any Azure SDK client, with our defaults: both
timeouts always set, and retries of 5xx/429/transport failures for GET and POST alike (a token request
has no side effect)."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from azure.core.pipeline.policies import (
    HeadersPolicy,
    HttpLoggingPolicy,
    ProxyPolicy,
    RetryPolicy,
    UserAgentPolicy,
)
from azure.core.pipeline.transport import HttpTransport

from ._version import VERSION

#: Seconds; azure-core's own defaults are 300 s each.
DEFAULT_CONNECTION_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 30.0
#: Up to 3 retries after 0 s, 1 s, 2 s (exponential, at most 8 s; a Retry-After header wins).
DEFAULT_RETRY: Dict[str, Any] = {"retry_total": 3, "retry_backoff_factor": 0.5, "retry_backoff_max": 8}
#: Options that configure the RequestsTransport; the others configure the policies.
TRANSPORT_OPTIONS = ("connection_verify", "connection_cert", "connection_data_block_size", "session")
RETRY_ON_METHODS = frozenset({"GET", "POST"})


class PipelineOptions:
    """azure-core pipeline options, split into what the transport, the policies and each call take."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        remaining = dict(options)
        self.transport: Optional[HttpTransport[Any, Any]] = remaining.pop("transport", None)
        self.timeouts = {
            "connection_timeout": float(remaining.pop("connection_timeout", DEFAULT_CONNECTION_TIMEOUT)),
            "read_timeout": float(remaining.pop("read_timeout", DEFAULT_READ_TIMEOUT)),
        }
        self.transport_options = {
            name: remaining.pop(name) for name in TRANSPORT_OPTIONS if name in remaining
        }
        self.logging_enable = bool(remaining.pop("logging_enable", False))
        self._policy_options = {
            **DEFAULT_RETRY,
            **remaining,
        }  # headers, user_agent*, proxies, retry_*, timeout

    def policies(self, *extra: Any) -> List[Any]:
        """A fresh policy list (a Pipeline links its policies, so they are not shared between pipelines)."""
        options = self._policy_options
        return [
            HeadersPolicy(**options),
            UserAgentPolicy(sdk_moniker=f"azure-wif-credential/{VERSION}", **options),
            ProxyPolicy(**options),
            RetryPolicy(**options),
            HttpLoggingPolicy(**options),  # URL and allow-listed headers only; never bodies
            *extra,
        ]

    def new_transport(self) -> HttpTransport[Any, Any]:
        """A RequestsTransport (a caller's ``session=`` is used, not closed)."""
        from azure.core.pipeline.transport import RequestsTransport

        transport: HttpTransport[Any, Any] = RequestsTransport(
            session_owner="session" not in self.transport_options, **self.transport_options
        )
        return transport

    def run_options(self) -> Dict[str, Any]:
        """Per-call options: timeouts go with every request, so they hold with a caller's transport too."""
        return {**self.timeouts, "retry_on_methods": RETRY_ON_METHODS}
