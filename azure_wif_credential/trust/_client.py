"""Federated identity credentials of one application, through Microsoft Graph (azure-core pipeline)."""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional
from urllib.parse import quote, urlsplit

from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.pipeline import Pipeline
from azure.core.pipeline.policies import BearerTokenCredentialPolicy
from azure.core.rest import HttpRequest

from .._clouds import PUBLIC, cloud_of
from .._config import is_loopback
from .._environment import authority_host
from .._pipeline import Answer, BodyTooLarge, PipelineOptions, get_json, run_bounded
from .._redact import excerpt, get_logger
from .._retry_after import retry_after, when_text
from ._advice import advise
from ._model import NAME_RULE, FederatedIdentityCredential
from ._subjects import GITHUB_ISSUER

_LOGGER = get_logger("azure_wif_credential.trust")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
RETRY_ON_METHODS = frozenset({"GET", "POST", "PATCH", "DELETE"})


class GraphError(HttpResponseError):
    """Microsoft Graph refused a request: its ``code`` (e.g. ``Authorization_RequestDenied``),
    ``message`` and ``request_id`` (quote it to support), and the HTTP ``status_code``."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        request_id: Optional[str],
        action: str,
        retry_after: Optional[float] = None,
    ) -> None:
        text = f"{action}: Microsoft Graph answered HTTP {status_code} {code}: {message}"
        if retry_after is not None:
            text += f"; Graph asked to try again {when_text(retry_after)}"
        if request_id:
            text += f" (request-id {request_id})"
        super().__init__(message=text)
        self.status_code, self.code, self.graph_message, self.request_id = (
            status_code,
            code,
            message,
            request_id,
        )
        #: Seconds Graph asked us to wait (429/503 with Retry-After), else None.
        self.retry_after = retry_after


def graph_endpoint_for(authority: Optional[str]) -> str:
    cloud = cloud_of(authority or PUBLIC.login_host)
    if cloud is None:
        raise ValueError(
            f"No Microsoft Graph is known for the authority {authority!r}: pass graph_endpoint= (for the "
            "sandbox: sandbox.graph_endpoint)"
        )
    return cloud.graph


class FederatedIdentityCredentials:
    """The federated identity credentials of one app registration.

    :param credential: any azure-core TokenCredential that may call Graph with ``Application.ReadWrite.All``
        (or ``.OwnedBy`` for its own app): a FederatedTokenCredential, AzureCliCredential, ...
    :keyword application: the application (client) id. Exactly one of this and ``object_id``.
    :keyword object_id: the application object's id.
    :keyword graph_endpoint: Microsoft Graph's URL; by default the cloud's Graph for the credential's
        authority (``AZURE_AUTHORITY_HOST``).
    :keyword pipeline_options: azure-core options: ``transport``, ``connection_verify``, ``retry_*``, ...
    """

    def __init__(
        self,
        credential: Any,
        *,
        application: Optional[str] = None,
        object_id: Optional[str] = None,
        graph_endpoint: Optional[str] = None,
        **pipeline_options: Any,
    ) -> None:
        if (application is None) == (object_id is None):
            raise ValueError(
                "FederatedIdentityCredentials needs exactly one of application= (client id) or object_id="
            )
        key = application if application is not None else object_id
        if not isinstance(key, str) or not _GUID.fullmatch(key):
            name = "application" if application is not None else "object_id"
            raise ValueError(
                f"{name} must be a GUID, not {str(key)[:60]!r} (display names are not looked up)"
            )
        if not callable(getattr(credential, "get_token", None)):
            raise TypeError(
                f"credential must be an azure-core TokenCredential, not {type(credential).__name__}"
            )
        if graph_endpoint is None:
            # A credential that names its authority (ours do) picks the cloud's Graph; else the environment.
            authority = getattr(credential, "authority", None)
            graph_endpoint = graph_endpoint_for(authority if isinstance(authority, str) else authority_host())
        parts = urlsplit(graph_endpoint)
        self._graph = graph_endpoint.rstrip("/")
        if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(
                f"graph_endpoint must be an https URL such as https://graph.microsoft.com, not {graph_endpoint!r}"
            )
        self._graph = graph_endpoint.rstrip("/")
        self._application = (
            f"applications(appId='{application}')" if application is not None else f"applications/{object_id}"
        )
        self._options = PipelineOptions(pipeline_options)
        scope = f"{self._graph}/.default"
        policies = self._options.policies(BearerTokenCredentialPolicy(credential, scope))
        self._pipeline: Pipeline[HttpRequest, Any] = Pipeline(
            self._options.transport or self._options.new_transport(), policies
        )
        self._plain: Pipeline[HttpRequest, Any] = Pipeline(
            self._options.new_transport(), self._options.policies()
        )
        self._run = {**self._options.run_options(), "retry_on_methods": RETRY_ON_METHODS}

    def __repr__(self) -> str:
        return f"FederatedIdentityCredentials({self._application!r}, graph_endpoint={self._graph!r})"

    def close(self) -> None:
        self._pipeline.__exit__()
        self._plain.__exit__()

    def __enter__(self) -> FederatedIdentityCredentials:
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()

    # --- the API ------------------------------------------------------------------------------

    def list(self) -> List[FederatedIdentityCredential]:
        action = "list federated identity credentials"
        found = self._values(self._call("GET", "v1.0", "", None, action), action)
        if any(f.subject is None for f in found):  # flexible FICs: their expressions are in beta only
            found = self._values(self._call("GET", "beta", "", None, action + " (beta)"), action)
        return found

    def get(self, name: str) -> FederatedIdentityCredential:
        action = f"get federated identity credential {name!r}"
        found = self._from_graph(self._call("GET", "v1.0", self._key(name), None, action), action)
        if found.subject is None:
            found = self._from_graph(self._call("GET", "beta", self._key(name), None, action), action)
        return found

    def create(self, credential: FederatedIdentityCredential) -> FederatedIdentityCredential:
        if not isinstance(credential, FederatedIdentityCredential):
            raise TypeError(f"create() takes a FederatedIdentityCredential, not {type(credential).__name__}")
        credential.validate()
        advise(credential, self._discovered_issuer)
        version = "beta" if credential.claims_matching_expression else "v1.0"
        body = {k: v for k, v in credential.to_graph().items() if v is not None}
        action = f"create federated identity credential {credential.name!r}"
        return self._from_graph(self._call("POST", version, "", body, action), action)

    def update(self, name: str, **fields: Any) -> FederatedIdentityCredential:
        self._key(name)
        current = self.get(name)
        wanted = current.changed(**fields)
        wanted.validate()
        advise(wanted, self._discovered_issuer)
        version = (
            "beta" if wanted.claims_matching_expression or current.claims_matching_expression else "v1.0"
        )
        body = {k: v for k, v in wanted.to_graph().items() if k != "name"}
        if version == "v1.0":
            body.pop("claimsMatchingExpression", None)
        self._call("PATCH", version, self._key(name), body, f"update federated identity credential {name!r}")
        return self.get(name)

    def delete(self, name: str) -> None:
        self._call("DELETE", "v1.0", self._key(name), None, f"delete federated identity credential {name!r}")

    # --- HTTP ---------------------------------------------------------------------------------

    @staticmethod
    def _key(name: str) -> str:
        """The FIC addressed by name as Graph's key, ``(name='...')`` (as the Graph SDK's
        ``federated_identity_credentials_with_name`` does), after Entra's naming rule: no name can be a
        dot segment, a slash, a quote or anything else that addresses more than that one FIC."""
        if not isinstance(name, str) or not NAME_RULE.fullmatch(name):
            raise ValueError(
                f"name {str(name)[:80]!r} is not a federated identity credential's name: 3 to 120 letters, "
                "digits, '.', '_', '~' or '-', starting with a letter or digit"
            )
        return "(name='" + quote(name.replace("'", "''"), safe="") + "')"

    def _call(
        self, method: str, version: str, suffix: str, body: Optional[Dict[str, Any]], action: str
    ) -> Any:
        url = f"{self._graph}/{version}/{self._application}/federatedIdentityCredentials{suffix}"
        request = HttpRequest(method, url, json=body) if body is not None else HttpRequest(method, url)
        try:
            answer = run_bounded(self._pipeline, request, self._run)
        except BodyTooLarge as error:
            raise GraphError(0, "AnswerTooLarge", str(error), None, action) from None
        except HttpResponseError:  # the credential could not get a Graph token: its own error
            raise
        except AzureError as error:
            raise GraphError(0, "Unreachable", excerpt(str(error), 300), None, action) from None
        if answer.status >= 400:
            raise _graph_error(answer, action)
        if not 200 <= answer.status < 300:  # a redirect (or anything else) is never success
            location = urlsplit(_header(answer, "location") or "").netloc or "nowhere"
            raise GraphError(
                answer.status,
                "UnexpectedAnswer",
                f"HTTP {answer.status} (a redirect to {location!r}) is not an answer Graph gives; nothing "
                "was done (is graph_endpoint right, or does a proxy intercept?)",
                _request_id(answer),
                action,
            )
        if answer.status == 204 or (method == "DELETE" and not answer.body):
            return {}
        try:
            document = json.loads(answer.body)
        except (ValueError, RecursionError):
            document = None
        if not isinstance(document, dict):
            raise GraphError(
                answer.status,
                "UnexpectedAnswer",
                "the answer is not a JSON object",
                _request_id(answer),
                action,
            )
        return document

    def _values(self, document: Dict[str, Any], action: str) -> List[FederatedIdentityCredential]:
        values = document.get("value")
        if not isinstance(values, list):
            raise GraphError(200, "UnexpectedAnswer", "the answer has no 'value' list", None, action)
        return [self._from_graph(v, action) for v in values]

    @staticmethod
    def _from_graph(document: Any, action: str) -> FederatedIdentityCredential:
        try:
            return FederatedIdentityCredential.from_graph(document)
        except ValueError as error:
            raise GraphError(200, "UnexpectedAnswer", excerpt(str(error), 300), None, action) from None

    def _discovered_issuer(self, issuer: str) -> Optional[str]:
        """The ``issuer`` the issuer's discovery document publishes (None when it cannot be read). A
        well-known issuer is not looked up (GitHub publishes exactly GITHUB_ISSUER), and a lookup is
        advice only: one quick try, so an offline machine or an unreachable issuer costs a moment."""
        if issuer.rstrip("/") == GITHUB_ISSUER:
            return GITHUB_ISSUER
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        if urlsplit(url).scheme != "https" and not is_loopback(url):
            return None
        quick = {**self._options.run_options(), "connection_timeout": 2.0, "read_timeout": 5.0}
        quick["retry_total"] = 0
        document, problem = get_json(self._plain, url, quick, limit=256 * 1024)
        if document is None:
            _LOGGER.debug("Could not read %s: %s", url, problem)
            return None
        published = document.get("issuer")
        return published if isinstance(published, str) else None


def _header(answer: Answer, wanted: str) -> Optional[str]:
    for name, value in answer.headers.items():
        if name.lower() == wanted:
            return value
    return None


def _request_id(answer: Answer, inner: Any = None) -> Optional[str]:
    """Graph's request id (a GUID): anything else in its place (an echoed bearer token...) is dropped."""
    for candidate in (inner, _header(answer, "request-id"), _header(answer, "client-request-id")):
        if isinstance(candidate, str) and _GUID.fullmatch(candidate.strip()):
            return candidate.strip()
    return None


def _graph_error(answer: Answer, action: str) -> GraphError:
    code, message, inner_id = (
        f"HTTP{answer.status}",
        excerpt(answer.body.decode("utf-8", "replace"), 300),
        None,
    )
    try:
        document = json.loads(answer.body)
    except (ValueError, RecursionError):
        document = None
    error = document.get("error") if isinstance(document, dict) else None
    if isinstance(error, dict):
        code = excerpt(_text(error.get("code")) or code, 100)
        message = excerpt(_text(error.get("message")), 500)
        inner = error.get("innerError")
        if isinstance(inner, dict):
            inner_id = inner.get("request-id")
    wait = retry_after(answer.headers) if answer.status in (429, 503) else None
    return GraphError(answer.status, code, message, _request_id(answer, inner_id), action, wait)


def _text(value: Any) -> str:
    """A field Graph should send as a string: only a string is shown (a nested object is not)."""
    return value if isinstance(value, str) else ""
