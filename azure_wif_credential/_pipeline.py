"""The azure-core pipeline settings of every HTTP call we make: Entra token exchanges (through MSAL)
and the CI sources' token requests. Same options as any Azure SDK client, with our defaults: both
timeouts always set, and retries of 5xx/429/transport failures for GET and POST alike (a token request
has no side effect)."""

from __future__ import annotations

import inspect
import json
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from azure.core.pipeline import Pipeline
from azure.core.pipeline.policies import (
    HeadersPolicy,
    HttpLoggingPolicy,
    ProxyPolicy,
    SansIOHTTPPolicy,
    UserAgentPolicy,
)
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest

from ._redact import get_logger, remember
from ._retry_after import AsyncCappedRetryPolicy, CappedRetryPolicy
from ._version import VERSION

#: Seconds; azure-core's own defaults are 300 s each.
DEFAULT_CONNECTION_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 30.0
#: Up to 3 retries after 0 s, 1 s, 2 s (exponential, at most 8 s; a Retry-After header of up to
#: MAX_IN_CALL_WAIT wins, a longer one ends the call at once: see ``_retry_after``).
DEFAULT_RETRY: Dict[str, Any] = {"retry_total": 3, "retry_backoff_factor": 0.5, "retry_backoff_max": 8}
#: Options that configure the RequestsTransport; the others configure the policies.
TRANSPORT_OPTIONS = ("connection_verify", "connection_cert", "connection_data_block_size", "session")
RETRY_ON_METHODS = frozenset({"GET", "POST"})


def _number(name: str, value: Any, *, minimum: float, integer: bool = False, strict: bool = False) -> None:
    kind = "a whole number" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int,) if integer else (int, float)):
        raise TypeError(f"{name} must be {kind} (seconds or a count), not {type(value).__name__} {value!r}")
    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        bound = f"greater than {minimum:g}" if strict else f"at least {minimum:g}"
        raise ValueError(f"{name} must be a finite number {bound}, not {value!r}")


def check_option_types(options: Mapping[str, Any]) -> None:
    """Pipeline options of the wrong type or range are refused up front, naming the option."""
    for name in ("connection_timeout", "read_timeout", "timeout"):
        if options.get(name) is not None:
            _number(name, options[name], minimum=0, strict=True)
    for name in ("retry_total", "retry_connect", "retry_read", "retry_status"):
        if options.get(name) is not None:
            _number(name, options[name], minimum=0, integer=True)
    for name in ("retry_backoff_factor", "retry_backoff_max"):
        if options.get(name) is not None:
            _number(name, options[name], minimum=0)
    for name in ("logging_enable", "user_agent_overwrite"):
        if name in options and not isinstance(options[name], bool):
            raise TypeError(f"{name} must be True or False, not {type(options[name]).__name__}")
    verify = options.get("connection_verify")
    if verify is not None and not isinstance(verify, (bool, str, os.PathLike)):
        raise TypeError(
            f"connection_verify must be True, False or the path of a CA bundle, not {type(verify).__name__}"
        )
    if isinstance(verify, (str, os.PathLike)) and not os.fspath(verify).strip():
        raise ValueError("connection_verify must not be an empty path")
    for name in ("proxies", "headers"):
        value = options.get(name)
        if value is not None and not (
            isinstance(value, Mapping)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        ):
            raise TypeError(f"{name} must be a mapping of strings to strings, not {type(value).__name__}")
    if options.get("user_agent") is not None and not isinstance(options["user_agent"], str):
        raise TypeError(f"user_agent must be a string, not {type(options['user_agent']).__name__}")
    transport = options.get("transport")
    if transport is not None and not callable(getattr(transport, "send", None)):
        raise TypeError(
            f"transport must be an azure-core HttpTransport (e.g. RequestsTransport), not {type(transport).__name__}"
        )
    policies = options.get("policies")
    if policies is not None and (
        isinstance(policies, (str, bytes, Mapping)) or not isinstance(policies, (list, tuple))
    ):
        raise TypeError(
            f"policies must be a list of azure-core pipeline policies, not {type(policies).__name__}"
        )
    session = options.get("session")
    if session is not None and not callable(getattr(session, "request", None)):
        raise TypeError(f"session must be a requests.Session, not {type(session).__name__}")


def is_async_transport(transport: Any) -> bool:
    """An azure-core AsyncHttpTransport (``AioHttpTransport``...), or anything whose ``send`` is async."""
    if transport is None:
        return False
    from azure.core.pipeline.transport import AsyncHttpTransport

    return isinstance(transport, AsyncHttpTransport) or inspect.iscoroutinefunction(
        getattr(transport, "send", None)
    )


def check_transport(transport: Any, owner: str) -> None:
    """The sync credential takes an HttpTransport; the aio one also an AsyncHttpTransport."""
    if transport is None or not is_async_transport(transport) or owner.startswith("aio."):
        return
    raise TypeError(
        f"transport is an async transport ({type(transport).__name__}); {owner} needs a sync one such "
        "as RequestsTransport (or use azure_wif_credential.aio.FederatedTokenCredential)"
    )


#: azure-core's HttpLoggingPolicy logger (INFO: URLs and allow-listed headers).
HTTP_LOGGER = "azure.core.pipeline.policies.http_logging_policy"
#: Request headers whose values are secrets: a bearer token (Graph's, a CI's), App Service's identity
#: header, AWS's session token. Registered with the redactor as they leave, so an echo never shows them.
SECRET_HEADERS = ("authorization", "x-identity-header", "x-amz-security-token", "secret")


class RememberSecretHeaders(SansIOHTTPPolicy[Any, Any]):
    """Registers the secret request headers of every request (after any policy that adds them)."""

    def on_request(self, request: Any) -> None:
        for name, value in request.http_request.headers.items():
            if name.lower() in SECRET_HEADERS and isinstance(value, str):
                scheme, _, credential = value.partition(" ")
                remember(value, credential if scheme.lower() in ("bearer", "basic") else None)


class PipelineOptions:
    """azure-core pipeline options, split into what the transport, the policies and each call take."""

    def __init__(self, options: Mapping[str, Any], *, transport_factory: Optional[Any] = None) -> None:
        check_option_types(options)
        remaining = dict(options)
        self.transport: Optional[Any] = remaining.pop("transport", None)
        self.is_async = self.transport is not None and is_async_transport(self.transport)
        self._caller_policies: Optional[List[Any]] = remaining.pop("policies", None)
        # Given by the credential, never by callers: how to make its own transport (the AKS token proxy's).
        self._transport_factory = transport_factory
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

    def policies(self, *extra: Any, asynchronous: bool = False) -> List[Any]:
        """A fresh policy list (a Pipeline links its policies, so they are not shared between pipelines).
        A caller's ``policies=`` replace the defaults, as in azure-identity and every Azure SDK client;
        ``extra`` (our redacting network log) is always last."""
        options = self._policy_options
        if self._caller_policies:
            return [*self._caller_policies, *extra, RememberSecretHeaders()]
        return [
            HeadersPolicy(**options),
            UserAgentPolicy(sdk_moniker=f"azure-wif-credential/{VERSION}", **options),
            ProxyPolicy(**options),
            AsyncCappedRetryPolicy(**options) if asynchronous else CappedRetryPolicy(**options),
            # URL and allow-listed headers only, never bodies; its logger redacted, as an answer's
            # allow-listed header (request-id) may echo a bearer token
            HttpLoggingPolicy(logger=get_logger(HTTP_LOGGER), **options),
            *extra,
            RememberSecretHeaders(),
        ]

    def new_transport(self) -> HttpTransport[Any, Any]:
        """A RequestsTransport (a caller's ``session=`` is used, not closed)."""
        if self._transport_factory is not None:
            made: HttpTransport[Any, Any] = self._transport_factory()
            return made
        from azure.core.pipeline.transport import RequestsTransport

        transport: HttpTransport[Any, Any] = RequestsTransport(
            session_owner="session" not in self.transport_options, **self.transport_options
        )
        return transport

    def run_options(self) -> Dict[str, Any]:
        """Per-call options: timeouts go with every request, so they hold with a caller's transport too."""
        if self._caller_policies:  # no RetryPolicy of ours to read it (a caller's may not take it)
            return dict(self.timeouts)
        return {**self.timeouts, "retry_on_methods": RETRY_ON_METHODS}


#: Bytes we read of any answer at most: token answers are a few KiB; a larger one is refused, not read.
MAX_ANSWER_BYTES = 1 << 20


class BodyTooLarge(Exception):
    """The far side sent more than :data:`MAX_ANSWER_BYTES` (or would not stop sending)."""


@dataclass(frozen=True)
class Answer:
    """An HTTP answer read whole (and bounded): what validation looks at."""

    status: int
    reason: str
    headers: Dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        for name, value in self.headers.items():
            if name.lower() == "content-type":
                return value
        return ""


class _Reader:
    """Reads one answer against the size limit (declared or sent) and the overall deadline."""

    def __init__(self, response: Any, limit: int, run_options: Mapping[str, Any]) -> None:
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            raise BodyTooLarge(f"{declared} bytes declared")
        self.response, self.limit, self.size = response, limit, 0
        self.chunks: List[bytes] = []
        self.deadline = time.monotonic() + 2 * float(run_options.get("read_timeout", DEFAULT_READ_TIMEOUT))

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise BodyTooLarge(f"more than {self.limit} bytes")
        if time.monotonic() > self.deadline:
            raise BodyTooLarge("still sending after the read timeout")
        self.chunks.append(chunk)

    def read_all(self, chunks: Iterable[bytes]) -> Answer:
        for chunk in chunks:
            self.add(chunk)
        return self.answer()

    def answer(self) -> Answer:
        response = self.response
        return Answer(
            status=int(response.status_code),
            reason=str(response.reason or ""),
            headers={str(k): str(v) for k, v in response.headers.items()},
            body=b"".join(self.chunks),
        )


async def run_bounded_async(
    pipeline: Any, request: HttpRequest, run_options: Mapping[str, Any], limit: int = MAX_ANSWER_BYTES
) -> Answer:
    """:func:`run_bounded` over an AsyncPipeline (an ``AsyncHttpTransport``)."""
    response = (await pipeline.run(request, stream=True, **run_options)).http_response
    try:
        reader = _Reader(response, limit, run_options)
        async for chunk in response.iter_bytes():
            reader.add(chunk)
        return reader.answer()
    finally:
        await response.close()


def run_bounded(
    pipeline: Pipeline[HttpRequest, Any],
    request: HttpRequest,
    run_options: Mapping[str, Any],
    limit: int = MAX_ANSWER_BYTES,
) -> Answer:
    """Send ``request`` and read at most ``limit`` bytes of the answer, within the read timeout overall:
    an endless or huge body is cut off (:class:`BodyTooLarge`), never buffered whole."""
    response = pipeline.run(request, stream=True, **run_options).http_response
    try:
        return _Reader(response, limit, run_options).read_all(response.iter_bytes())
    finally:
        response.close()


def get_json(
    pipeline: Pipeline[HttpRequest, Any], url: str, run_options: Mapping[str, Any], limit: int = 512 * 1024
) -> Tuple[Optional[Dict[str, Any]], str]:
    """GET a JSON object (a discovery document, a JWKS), read bounded: the object, or None and why."""
    from azure.core.exceptions import AzureError

    try:
        answer = run_bounded(pipeline, HttpRequest("GET", url), run_options, limit=limit)
    except (AzureError, BodyTooLarge) as error:
        return None, type(error).__name__
    if answer.status != 200:
        return None, f"HTTP {answer.status}"
    try:
        document = json.loads(answer.body)
    except (ValueError, RecursionError):
        return None, "not JSON"
    return (document, "") if isinstance(document, dict) else (None, "not a JSON object")
