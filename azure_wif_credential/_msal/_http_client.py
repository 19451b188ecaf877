"""The HTTP client MSAL uses: an azure-core pipeline, so pipeline options behave as in any Azure SDK.

Timeouts are always set, retries cover 5xx/429/transport errors on the token POST, answers are read
bounded and validated before MSAL sees them (see ``_answers``), and network logging
(``logging_enable=True``) redacts the assertion and tokens.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable, Dict, Mapping, Optional, Protocol, Union
from urllib.parse import urlencode

from azure.core.pipeline import Pipeline, PipelineRequest
from azure.core.pipeline.policies import (
    SansIOHTTPPolicy,
)
from azure.core.rest import HttpRequest

from .._errors import TokenExchangeError
from .._pipeline import Answer, BodyTooLarge, PipelineOptions, run_bounded, run_bounded_async
from .._redact import get_logger, redact_body
from ._answers import check_discovery_answer, check_token_answer

_LOGGER = get_logger("azure_wif_credential.http")
#: The event loop of the aio credential's call, for an AsyncHttpTransport's requests (MSAL runs in a
#: worker thread; the aio shell copies its context there).
CALLER_LOOP: contextvars.ContextVar[Optional[asyncio.AbstractEventLoop]] = contextvars.ContextVar(
    "azure_wif_caller_loop", default=None
)


class RedactingNetworkLogPolicy(SansIOHTTPPolicy[Any, Any]):
    """``logging_enable=True`` logs requests and responses at DEBUG with secrets redacted.

    (azure-core's NetworkTraceLoggingPolicy would log the form body verbatim: the assertion.)
    """

    def __init__(self, logging_enable: bool = False) -> None:
        self._enabled = logging_enable

    def on_request(self, request: PipelineRequest[Any]) -> None:
        if self._enabled and _LOGGER.isEnabledFor(logging.DEBUG):
            http = request.http_request
            _LOGGER.debug("Request: %s %s body: %s", http.method, http.url, redact_body(_request_body(http)))


def _request_body(request: Any) -> Union[str, bytes, None]:
    data = getattr(request, "data", None) or getattr(request, "body", None)
    if data is None:
        content = getattr(request, "content", None)
        return content if isinstance(content, (str, bytes)) else None
    if isinstance(data, Mapping):
        return "&".join(f"{k}={v}" for k, v in data.items())
    return data if isinstance(data, (str, bytes)) else None


class DocumentStore(Protocol):
    """Where discovery documents outlive the process (the persistent token cache)."""

    def get_document(self, url: str) -> Optional[Dict[str, Any]]: ...

    def put_document(self, url: str, body: str) -> None: ...


class MsalResponse:
    """The response shape MSAL expects (``status_code``, ``text``, ``headers``, ``raise_for_status``);
    only validated answers become one."""

    def __init__(self, status_code: int, headers: Dict[str, str], text: str) -> None:
        self.status_code = status_code
        self.headers = headers
        self.text = text

    def raise_for_status(self) -> None:
        # MSAL wraps responses in its own type, whose raise_for_status it calls; this is for completeness.
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}")


class MsalHttpClient:
    """What MSAL calls as ``http_client``. Every answer is read bounded and validated here: a token
    answer that is not a token, and every error answer, raise before MSAL parses anything."""

    def __init__(
        self,
        authority: str,
        *,
        documents: Optional[DocumentStore] = None,
        transport_factory: Optional[Callable[[], Any]] = None,
        **options: Any,
    ) -> None:
        settings = PipelineOptions(options, transport_factory=transport_factory)
        self._documents = documents
        self._authority = authority
        self._run_options = settings.run_options()
        self._logging_enable = settings.logging_enable
        self._async = settings.is_async
        self._owns_transport = settings.transport is None
        redacting = RedactingNetworkLogPolicy(settings.logging_enable)
        self._pipeline: Any
        if self._async:  # the aio credential's AsyncHttpTransport: requests run on the caller's loop
            from azure.core.pipeline import AsyncPipeline

            transport: Any = settings.transport
            self._pipeline = AsyncPipeline(
                transport, policies=settings.policies(redacting, asynchronous=True)
            )
        else:
            self._pipeline = Pipeline(
                settings.transport or settings.new_transport(), policies=settings.policies(redacting)
            )

    def _send(self, request: HttpRequest) -> Answer:
        if not self._async:
            return run_bounded(self._pipeline, request, self._run_options)
        loop = CALLER_LOOP.get()
        if loop is None:  # pragma: no cover - the aio shell always sets it
            raise TokenExchangeError("An async transport needs the aio FederatedTokenCredential.")
        run = asyncio.run_coroutine_threadsafe(
            run_bounded_async(self._pipeline, request, self._run_options), loop
        )
        timeout = self._run_options["connection_timeout"] + 3 * self._run_options["read_timeout"]
        try:
            return run.result(timeout=timeout * 4)  # retries included; the read itself is bounded too
        except FutureTimeout:
            run.cancel()
            raise TokenExchangeError(
                f"No answer from Microsoft Entra ID at {self._authority} in time.", retryable=True
            ) from None

    def _run(self, request: HttpRequest) -> Answer:
        try:
            answer = self._send(request)
        except ValueError as error:
            if "closed" not in str(error):
                raise
            raise TokenExchangeError(  # azure-core's transports cannot be reopened once closed
                "The transport passed as transport= is closed (close() or the end of a `with` block closes "
                "it, as in azure-identity) and azure-core cannot reopen it: pass a new transport, or none "
                "(the credential's own transport reopens by itself).",
            ) from None
        except BodyTooLarge as error:
            raise TokenExchangeError(
                f"Microsoft Entra ID at {self._authority} sent an answer too large to be a token ({error}).",
                retryable=True,
            ) from None
        if self._logging_enable and _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug("Response: %s body: %s", answer.status, redact_body(answer.body))
        return answer

    def post(
        self,
        url: str,
        params: Optional[Dict[str, str]] = None,
        data: Union[Dict[str, str], str, None] = None,
        headers: Optional[Dict[str, str]] = None,
        **kwargs: Any,
    ) -> MsalResponse:
        request_headers = dict(headers or {})
        if isinstance(data, dict):
            request = HttpRequest("POST", url, params=params, headers=request_headers, data=data)
        else:
            request = HttpRequest("POST", url, params=params, headers=request_headers, content=data)
        answer = self._run(request)
        return MsalResponse(answer.status, answer.headers, check_token_answer(answer, self._authority))

    def get(
        self,
        url: str,
        params: Optional[Dict[str, str]] = None,
        headers: Optional[Dict[str, str]] = None,
        **kwargs: Any,
    ) -> MsalResponse:
        name = url + ("?" + urlencode(sorted(params.items())) if params else "")
        if self._documents is not None:  # a host-wide cache: another process may have fetched it
            stored = self._documents.get_document(name)
            if stored is not None:
                answer = Answer(
                    200, "OK", {"Content-Type": "application/json"}, stored["body"].encode("utf-8")
                )
                try:
                    check_discovery_answer(answer, url, self._authority)
                    return MsalResponse(200, answer.headers, stored["body"])
                except TokenExchangeError:
                    pass  # not a discovery document after all: fetch it
        answer = self._run(HttpRequest("GET", url, params=params, headers=headers))
        check_discovery_answer(answer, url, self._authority)
        body = answer.body.decode("utf-8")
        if self._documents is not None and answer.status == 200:
            self._documents.put_document(name, body)
        return MsalResponse(answer.status, answer.headers, body)

    def close(self) -> None:
        """Closes our own transport; a caller's is closed by the credential (it may be async)."""
        if not self._async and self._owns_transport:
            self._pipeline.__exit__()
