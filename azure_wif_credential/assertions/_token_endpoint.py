"""The CI sources' HTTPS call: one token request, retried on 5xx/429, answered by one JSON field.

Built on an azure-core pipeline so the sources take the credential's options, which are those of every
Azure SDK client (``transport``, ``connection_verify``, ``proxies``, ``retry_*``, timeouts), and get
azure-core's retry policy (exponential backoff, ``Retry-After``) for free. Without a caller's
``transport`` each fetch uses its own ``RequestsTransport``, closed when the fetch ends: a source is
asked for a token about once an hour, so a pooled connection saves nothing, while a per-call session is
thread-safe (the async credential calls sources from worker threads) and leaves no socket for anyone
to close. A caller's ``transport`` or ``session`` is used and never closed.

``connection_verify`` is passed per request, so an explicit CA wins over ``REQUESTS_CA_BUNDLE``;
without it requests applies ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` as usual.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Optional, Tuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline import Pipeline
from azure.core.rest import HttpRequest

from .._config import PIPELINE_OPTIONS, is_loopback
from .._pipeline import Answer, BodyTooLarge, PipelineOptions, run_bounded
from .._redact import excerpt, get_logger, remember, without_secret_cause

_LOGGER = get_logger(__name__)


class EndpointUnreachable(ClientAuthenticationError):
    """No connection to the token endpoint at all (refused, no route, the connect timeout ran out):
    for a platform's metadata endpoint, the sign that this is not that platform."""


def check_pipeline_options(options: Mapping[str, Any], owner: str) -> None:
    """Refuse misspelled or unsupported options instead of silently ignoring them.

    The accepted names are the credential's (:data:`azure_wif_credential._config.PIPELINE_OPTIONS`),
    so one set of options can configure a credential and the source it reads.
    """
    unknown = sorted(set(options) - PIPELINE_OPTIONS)
    if unknown:
        raise TypeError(
            f"{owner}() got unexpected keyword argument(s) {', '.join(unknown)}; "
            f"it accepts the azure-core pipeline options {', '.join(sorted(PIPELINE_OPTIONS))}"
        )


def with_query(url: str, params: Mapping[str, str]) -> str:
    """``url`` with ``params`` set in its query (replacing same-named parameters, keeping the rest)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def display_url(url: str) -> str:
    """The URL without its query and fragment: enough to recognise the endpoint in a message."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class TokenEndpointClient:
    """Asks one kind of OIDC token endpoint for a token and returns the JSON field holding it.

    :param platform: how messages name the endpoint, e.g. ``"GitHub Actions' OIDC token endpoint"``.
    :param options: azure-core pipeline options (see :data:`PIPELINE_OPTIONS`).
    """

    def __init__(self, platform: str, **options: Any) -> None:
        self._platform = platform
        # logging_enable never turns on body logging here: these response bodies *are* tokens.
        self._options = PipelineOptions(options)

    def request_token(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        field: Optional[str],
        *,
        allow_http: bool = False,
        require_header: Optional[Tuple[str, str]] = None,
    ) -> str:
        """Send the request (with retries) and return the non-empty string ``field`` of its JSON body
        (``field=None``: the body itself is the token). ``allow_http`` permits plain http (a cloud's
        metadata host); ``require_header`` is a (name, value) the answer must carry.

        Raises :class:`ClientAuthenticationError` for anything else, naming the status and the
        endpoint's own message (redacted: never a token). The request's bearer token is registered as
        a secret first, so an endpoint that echoes it back cannot make us show it.
        """
        for name, header in headers.items():
            if name.lower() == "authorization":
                remember(header, header.partition(" ")[2])
        where = display_url(url)
        if not allow_http:
            self._require_https(url, where)
        answer = self._send(HttpRequest(method, url, headers=dict(headers)), where)
        status = answer.status
        _LOGGER.debug("%s %s answered HTTP %d", method, where, status)
        try:
            body = answer.body.decode("utf-8")
        except UnicodeDecodeError:
            raise ClientAuthenticationError(
                message=f"{self._platform} ({where}) answered HTTP {status} with a body that is not UTF-8 text"
            ) from None
        if status != 200:
            reason = f" {answer.reason}" if answer.reason else ""
            raise ClientAuthenticationError(
                message=f"{self._platform} ({where}) answered HTTP {status}{reason}: {_platform_message(body)}"
            )
        if require_header is not None:
            name, expected = require_header
            got = next((v for k, v in answer.headers.items() if k.lower() == name.lower()), None)
            if got != expected:
                raise ClientAuthenticationError(
                    message=f"{where} answered without the header {name}: {expected}: it is not "
                    f"{self._platform}"
                )
        if field is None:
            remember(body)
            token = body.strip()
            if not token:
                raise ClientAuthenticationError(
                    message=f"{self._platform} ({where}) answered HTTP 200 with no token"
                )
            return token
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            content_type = answer.content_type or "no Content-Type"
            raise ClientAuthenticationError(
                message=f"{self._platform} ({where}) answered HTTP 200 with a body that is not JSON "
                f"({content_type}): {excerpt(body) or '<empty>'}"
            ) from None
        value = document.get(field) if isinstance(document, dict) else None
        if isinstance(value, str):
            remember(value)
        if not isinstance(value, str) or not value.strip():
            present = (
                ", ".join(sorted(document)[:20]) if isinstance(document, dict) else type(document).__name__
            )
            raise ClientAuthenticationError(
                message=f"{self._platform} ({where}) answered HTTP 200 without a token in the JSON "
                f"field '{field}' (the response has: {excerpt(present, 200) or 'no fields'})"
            )
        return value.strip()

    def _require_https(self, url: str, where: str) -> None:
        scheme = urlsplit(url).scheme
        if scheme == "https" or (scheme == "http" and is_loopback(url)):
            return
        raise ClientAuthenticationError(
            message=f"refusing to send a bearer token to {where}: {self._platform} must be an https URL "
            "(plain http is allowed only for loopback hosts)"
        )

    def _send(self, request: HttpRequest, where: str) -> Answer:
        options = self._options
        try:
            if options.transport is not None:
                # The caller owns this transport: use it, never close it.
                pipeline: Pipeline[HttpRequest, Any] = Pipeline(options.transport, options.policies())
                return run_bounded(pipeline, request, options.run_options())
            with Pipeline(options.new_transport(), options.policies()) as owned:
                return run_bounded(owned, request, options.run_options())
        except BodyTooLarge as error:
            raise ClientAuthenticationError(
                message=f"{self._platform} ({where}) sent an answer too large to be a token ({error})"
            ) from None
        except (ServiceRequestError, ServiceResponseError) as error:
            timeout = _timeout_name(error)
            if timeout:
                kind = EndpointUnreachable if timeout == "connection_timeout" else ClientAuthenticationError
                raise kind(
                    message=f"{self._platform} ({where}) did not answer within "
                    f"{timeout}={options.timeouts[timeout]:g} s"
                ) from None
            kind = (
                EndpointUnreachable if isinstance(error, ServiceRequestError) else ClientAuthenticationError
            )
            raise kind(
                message=f"could not reach {self._platform} ({where}): {excerpt(str(error))}"
            ) from without_secret_cause(error)
        except AzureError as error:  # a broken or endless body: DecodeError, IncompleteReadError, ...
            raise ClientAuthenticationError(
                message=f"{self._platform} ({where}) sent a broken answer: {excerpt(str(error))}"
            ) from without_secret_cause(error)


def _timeout_name(error: Exception) -> str:
    """Which timeout ran out, if one did. azure-core >= 1.32 raises its *TimeoutError types; older
    versions raise the plain errors with requests' Timeout as the inner exception."""
    if isinstance(error, ServiceRequestTimeoutError):
        return "connection_timeout"
    if isinstance(error, ServiceResponseTimeoutError):
        return "read_timeout"
    import requests

    inner = getattr(error, "inner_exception", None)
    if isinstance(inner, requests.exceptions.ConnectTimeout):
        return "connection_timeout"
    if isinstance(inner, requests.exceptions.Timeout):
        return "read_timeout"
    return ""


def _platform_message(body: str) -> str:
    """The endpoint's own explanation: a JSON ``message``-like field, else the start of the body."""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if isinstance(document, dict):
        for key in ("message", "Message", "error_description", "error"):
            value = document.get(key)
            if isinstance(value, str) and value.strip():
                return excerpt(value)
    return excerpt(body) or "<empty body>"
