"""The HTTP client MSAL uses: an azure-core pipeline, so pipeline options behave as in any Azure SDK.

Timeouts are always set, retries cover 5xx/429/transport errors on the token POST, and network logging
(``logging_enable=True``) redacts the assertion and tokens.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Dict, Mapping, Optional, Union
from urllib.parse import parse_qsl

from azure.core.pipeline import Pipeline, PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import (
    SansIOHTTPPolicy,
)
from azure.core.rest import HttpRequest

from ._pipeline import PipelineOptions

_LOGGER = logging.getLogger("azure_wif_credential.http")

_SECRET_FIELDS = frozenset(
    {"client_assertion", "assertion", "client_secret", "access_token", "refresh_token", "id_token"}
)
REDACTED = "REDACTED"


def redact_form(body: Union[str, bytes, None]) -> str:
    """A form or JSON body as text with every secret field replaced by REDACTED."""
    if body is None:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            return "<unparseable JSON body>"
        if isinstance(data, dict):
            return json.dumps({k: REDACTED if k in _SECRET_FIELDS else v for k, v in data.items()})
        return "<JSON body>"
    pairs = parse_qsl(text, keep_blank_values=True)
    return "&".join(f"{k}={REDACTED if k in _SECRET_FIELDS else v}" for k, v in pairs)


class RedactingNetworkLogPolicy(SansIOHTTPPolicy[Any, Any]):
    """``logging_enable=True`` logs requests and responses at DEBUG with secrets redacted.

    (azure-core's NetworkTraceLoggingPolicy would log the form body verbatim: the assertion.)
    """

    def __init__(self, logging_enable: bool = False) -> None:
        self._enabled = logging_enable

    def on_request(self, request: PipelineRequest[Any]) -> None:
        if self._enabled and _LOGGER.isEnabledFor(logging.DEBUG):
            http = request.http_request
            _LOGGER.debug("Request: %s %s body: %s", http.method, http.url, redact_form(_request_body(http)))

    def on_response(self, request: PipelineRequest[Any], response: PipelineResponse[Any, Any]) -> None:
        if self._enabled and _LOGGER.isEnabledFor(logging.DEBUG):
            http = response.http_response
            _LOGGER.debug("Response: %s body: %s", http.status_code, redact_form(http.text()))


def _request_body(request: Any) -> Union[str, bytes, None]:
    data = getattr(request, "data", None) or getattr(request, "body", None)
    if data is None:
        content = getattr(request, "content", None)
        return content if isinstance(content, (str, bytes)) else None
    if isinstance(data, Mapping):
        return "&".join(f"{k}={v}" for k, v in data.items())
    return data if isinstance(data, (str, bytes)) else None


class MsalResponse:
    """The response shape MSAL expects (``status_code``, ``text``, ``headers``, ``raise_for_status``)."""

    def __init__(self, response: PipelineResponse[Any, Any]) -> None:
        http = response.http_response
        self.status_code: int = http.status_code
        self.headers: Dict[str, str] = dict(http.headers)
        self.text: str = http.text(encoding="utf-8")

    def raise_for_status(self) -> None:
        # MSAL wraps responses in its own type, whose raise_for_status it calls; this is for completeness.
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}")


class MsalHttpClient:
    """What MSAL calls as ``http_client``; also remembers, per thread, the last response status."""

    def __init__(self, **options: Any) -> None:
        settings = PipelineOptions(options)
        self._run_options = settings.run_options()
        self._pipeline: Pipeline[Any, Any] = Pipeline(
            settings.transport or settings.new_transport(),
            policies=settings.policies(RedactingNetworkLogPolicy(settings.logging_enable)),
        )
        self._local = threading.local()
        self._closed = False

    @property
    def last_response(self) -> Optional[MsalResponse]:
        """This thread's latest response (MSAL raises for 5xx without it)."""
        return getattr(self._local, "response", None)

    def _run(self, request: HttpRequest) -> MsalResponse:
        if self._closed:
            raise RuntimeError("The credential is closed.")
        response = MsalResponse(self._pipeline.run(request, stream=False, **self._run_options))
        self._local.response = response
        return response

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
        return self._run(request)

    def get(
        self,
        url: str,
        params: Optional[Dict[str, str]] = None,
        headers: Optional[Dict[str, str]] = None,
        **kwargs: Any,
    ) -> MsalResponse:
        return self._run(HttpRequest("GET", url, params=params, headers=headers))

    def close(self) -> None:
        self._closed = True
        self._pipeline.__exit__()
