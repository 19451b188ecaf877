"""The HTTP client MSAL uses: an azure-core pipeline, so pipeline options behave as in any Azure SDK.

Timeouts are always set, retries cover 5xx/429/transport errors on the token POST, answers are read
bounded and validated before MSAL sees them (see ``_answers``), and network logging
(``logging_enable=True``) redacts the assertion and tokens.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Mapping, Optional, Union

from azure.core.pipeline import Pipeline, PipelineRequest
from azure.core.pipeline.policies import (
    SansIOHTTPPolicy,
)
from azure.core.rest import HttpRequest

from ._answers import check_discovery_answer, check_token_answer
from ._errors import TokenExchangeError
from ._pipeline import Answer, BodyTooLarge, PipelineOptions, run_bounded
from ._redact import get_logger, redact_body

_LOGGER = get_logger("azure_wif_credential.http")


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

    def __init__(self, authority: str, **options: Any) -> None:
        settings = PipelineOptions(options)
        self._authority = authority
        self._run_options = settings.run_options()
        self._logging_enable = settings.logging_enable
        self._pipeline: Pipeline[Any, Any] = Pipeline(
            settings.transport or settings.new_transport(),
            policies=settings.policies(RedactingNetworkLogPolicy(settings.logging_enable)),
        )
        self._closed = False

    def _run(self, request: HttpRequest) -> Answer:
        if self._closed:
            raise RuntimeError("The credential is closed.")
        try:
            answer = run_bounded(self._pipeline, request, self._run_options)
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
        answer = self._run(HttpRequest("GET", url, params=params, headers=headers))
        check_discovery_answer(answer, url, self._authority)
        return MsalResponse(answer.status, answer.headers, answer.body.decode("utf-8"))

    def close(self) -> None:
        self._closed = True
        self._pipeline.__exit__()
