"""The sandbox's HTTPS listener: loopback, HTTP/1.1 keep-alive, one write per response, no Nagle stalls.

It knows nothing about Entra: it resolves a request to a route (an endpoint name and a handler),
applies the faults queued for that endpoint, records the request, and writes the handler's response.
"""

from __future__ import annotations

import contextlib
import email.utils
import hmac
import http.server
import json
import logging
import re
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence
from urllib.parse import parse_qsl, urlsplit

from ..._redact import REDACTED
from . import _entra_errors as errors
from ._ests_headers import ESTS_ENDPOINTS, ests_headers
from ._faults import Drop, Failure, FaultPlan, Raw
from ._pki import TlsFiles
from ._records import SECRET_NAMES, RecordedRequest, Recorder

_LOGGER = logging.getLogger(__name__)
_MAX_BODY = 1 << 20
_IDLE_TIMEOUT = 60.0  # seconds a kept-alive connection may sit idle (and the TLS handshake may take)
_JOIN_TIMEOUT = 5.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]  # first value of each parameter
    headers: dict[str, str]  # names lower-case
    body: bytes
    params: dict[str, str]  # named groups of the route's pattern

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def has_bearer(self, token: str) -> bool:
        """Whether the Authorization header is exactly ``Bearer {token}`` (compared in constant time)."""
        presented = self.header("authorization") or ""
        return hmac.compare_digest(presented.encode(), f"Bearer {token}".encode())

    def form(self) -> dict[str, str]:
        """The application/x-www-form-urlencoded body (the first value of each field)."""
        return _first_values(self.body.decode("utf-8", "replace"))


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json; charset=utf-8"
    error_code: int | None = None  # the AADSTS code of an Entra error, for the record
    raw: bool = False  # sent exactly as a test gave it (answer_next)

    @classmethod
    def json(
        cls,
        status: int,
        document: Any,
        *,
        headers: Sequence[tuple[str, str]] = (),
        error_code: int | None = None,
    ) -> Response:
        body = json.dumps(document, separators=(",", ":")).encode("utf-8")
        return cls(status, body, tuple(headers), error_code=error_code)


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str  # a regular expression matched against the whole path
    endpoint: str  # the name faults and records use
    handler: Handler
    failure_body: Callable[[Failure, Request], Response] | None = None  # defaults to Entra's error shape
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", re.compile(self.pattern))

    def match(self, path: str) -> dict[str, str] | None:
        found = self._compiled.fullmatch(path)
        return None if found is None else found.groupdict()


def error_response(error: errors.EntraError, request: Request) -> Response:
    """Entra's answer for ``error``; like Entra, the correlation id is the client's client-request-id."""
    body = error.body(correlation_id=request.header("client-request-id"))
    return Response.json(error.status, body, error_code=error.code)


def entra_failure(failure: Failure, request: Request) -> Response:
    return error_response(
        errors.injected_fault(failure.status, error=failure.error, code=failure.code), request
    )


def message_failure(failure: Failure, request: Request) -> Response:
    """An injected fault for services outside Entra, which answer errors as ``{"message": ...}``."""
    return Response.json(
        failure.status, {"message": f"Injected fault: HTTP {failure.status} {_reason(failure.status)}."}
    )


class HttpsServer:
    """HTTPS on ``host``: binds at construction (so the port is known), start() serves, stop() closes all.
    ``tls=None`` serves plain HTTP (what a cloud's link-local metadata endpoint speaks)."""

    def __init__(
        self,
        host: str,
        port: int,
        tls: TlsFiles | None,
        *,
        recorder: Recorder,
        faults: FaultPlan,
        record_bodies: Callable[[], bool],
        sni_names: Sequence[str] = (),
    ) -> None:
        self._sni_names = tuple(sni_names)
        context = None if tls is None else self._tls_context(tls)
        self._stopping = threading.Event()
        self._server = _Server((host, port), context, self)
        self.routes: tuple[Route, ...] = ()
        self.recorder = recorder
        self.faults = faults
        self.record_bodies = record_bodies
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def _tls_context(self, tls: TlsFiles) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(tls.cert_file, tls.key_file)
        if self._sni_names:  # only these server names are served: a client asking for another is refused
            allowed = {name.lower() for name in self._sni_names}

            def only_these(sock: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> int | None:
                return None if (name or "").lower() in allowed else ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME

            context.sni_callback = only_these
        return context

    def use_tls(self, tls: TlsFiles) -> None:
        """Serve with this certificate from now on (a rotation): open connections are closed, so every
        client handshakes again with the new one."""
        self._server.context = self._tls_context(tls)
        self._server.close_connections()

    def start(self, routes: Sequence[Route]) -> None:
        """Serve ``routes`` (tried in order) from a background thread."""
        self.routes = tuple(routes)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sandbox-https-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.faults.wake()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(_JOIN_TIMEOUT)
            self._thread = None
        self._server.server_close()
        self._server.close_connections()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def hold(self, endpoint: str, since: float) -> None:
        """Wait out the endpoint's injected latency, but no longer than the server runs."""
        self.faults.hold(endpoint, since, self._stopping)

    def resolve(self, method: str, path: str) -> tuple[Route | None, dict[str, str], int]:
        """The route for this request, its path parameters, and the status to use when there is none."""
        status = 404
        for route in self.routes:
            params = route.match(path)
            if params is None:
                continue
            if route.method == method:
                return route, params, 200
            status = 405
        return None, {}, status


class _Server(http.server.ThreadingHTTPServer):
    """ThreadingHTTPServer with TLS per connection and connections it can close at stop()."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext | None, owner: HttpsServer) -> None:
        self.context = context
        self.owner = owner
        self._connections_lock = threading.Lock()
        self._connections: dict[threading.Thread, socket.socket] = {}
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (a DNS lookup); loopback needs none.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.context is None:
                return sock, address
            # The handshake happens in the connection's thread, so a slow client never blocks accept().
            return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address
        except OSError:
            sock.close()
            raise

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f"sandbox-connection-{self.server_address[1]}",
            daemon=True,
        )
        with self._connections_lock:
            self._connections[thread] = request
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._connections_lock:
                self._connections.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up, fail the handshake or time out are normal; keep them out of stderr.
        error = sys.exc_info()[1]
        _LOGGER.debug("sandbox connection from %s ended: %r", client_address, error)

    def close_connections(self) -> None:
        """Close every open connection (idle keep-alives included) and join their threads."""
        with self._connections_lock:
            connections = list(self._connections.items())
        for _, sock in connections:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)  # wakes a thread blocked reading
        for thread, _ in connections:
            thread.join(_JOIN_TIMEOUT)
            if thread.is_alive():
                _LOGGER.warning("a sandbox connection thread did not stop within %s s", _JOIN_TIMEOUT)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "azure-wif-credential-sandbox"
    timeout = _IDLE_TIMEOUT
    server: _Server

    def setup(self) -> None:
        self.request.settimeout(self.timeout)
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        _LOGGER.debug("sandbox %s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _dispatch(self) -> None:
        owner = self.server.owner
        received_at = time.time()
        target = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        body = self._read_body()
        if body is None:
            return
        route, params, status = owner.resolve(self.command, target.path)
        request = Request(self.command, target.path, _first_values(target.query), headers, body, params)
        if route is None:
            message = "Not Found" if status == 404 else "Method Not Allowed"
            self._send(
                Response.json(
                    status,
                    {
                        "error": "not_found" if status == 404 else "method_not_allowed",
                        "error_description": message,
                    },
                ),
                request,
            )
            return

        owner.recorder.started(route.endpoint)
        try:
            response = self._answer(route, request)
            if response is not None:  # record before answering: whoever saw the answer sees the record
                self._record(route, request, response.status, response.error_code, received_at)
            elif not owner.stopping:
                self._record(route, request, None, None, received_at)
        finally:
            owner.recorder.finished(route.endpoint)
        if response is None:
            self._drop()
        else:
            self._send(response, request)

    def _answer(self, route: Route, request: Request) -> Response | None:
        """The response after the endpoint's latency and faults; None to drop the connection instead.
        Entra's endpoints answer with ESTS's headers (a raw answer is sent exactly as given)."""
        response = self._answer_plain(route, request)
        if response is not None and route.endpoint in ESTS_ENDPOINTS and not response.raw:
            extra = tuple(h for h in ests_headers(response.error_code) if h[0] not in dict(response.headers))
            return replace(response, headers=response.headers + extra)
        return response

    def _answer_plain(self, route: Route, request: Request) -> Response | None:
        owner = self.server.owner
        fault = owner.faults.take(route.endpoint)  # "the next request" is the next to arrive
        owner.hold(route.endpoint, since=time.monotonic())
        if isinstance(fault, Drop) or owner.stopping:
            return None
        if isinstance(fault, Raw):
            return _raw_answer(fault, request)
        if isinstance(fault, Failure):
            response = (route.failure_body or entra_failure)(fault, request)
            if fault.retry_after is not None:
                response = _with_header(response, "Retry-After", str(fault.retry_after))
            return response
        try:
            return route.handler(request)
        except Exception:
            _LOGGER.exception("sandbox handler for %s failed", route.endpoint)
            return error_response(errors.injected_fault(500), request)

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._send(Response.json(411, {"error": "length_required"}), None)
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= _MAX_BODY:
            self.close_connection = True
            self._send(Response.json(413 if length > 0 else 400, {"error": "invalid_request"}), None)
            return None
        return self.rfile.read(length) if length else b""

    def _record(
        self, route: Route, request: Request, status: int | None, error_code: int | None, received_at: float
    ) -> None:
        owner = self.server.owner
        keep_secrets = owner.record_bodies()
        form = request.form() if request.method == "POST" else None
        headers = request.headers
        if not keep_secrets:
            headers = {n: REDACTED if n in SECRET_NAMES else v for n, v in headers.items()}
        owner.recorder.add(
            RecordedRequest(
                endpoint=route.endpoint,
                method=request.method,
                path=request.path,
                status=status,
                tenant=request.params.get("tenant"),
                form=form if keep_secrets else None,
                query=request.query,
                headers=headers,
                client_id=(form or {}).get("client_id") or request.query.get("client_id"),
                error_code=error_code,
                received_at=received_at,
            )
        )

    def _send(self, response: Response, request: Request | None) -> None:
        lines = [
            f"HTTP/1.1 {response.status} {_reason(response.status)}",
            f"Date: {email.utils.formatdate(usegmt=True)}",
            f"Server: {self.server_version}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
            "Cache-Control: no-store, no-cache",
            "Pragma: no-cache",
            f"x-ms-request-id: {uuid.uuid4()}",
        ]
        client_request_id = request.header("client-request-id") if request is not None else None
        if client_request_id:
            lines.append(f"client-request-id: {_header_safe(client_request_id)}")
        lines.extend(f"{name}: {_header_safe(value)}" for name, value in response.headers)
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        try:
            self.wfile.write(head + response.body)  # one write: headers and body leave together
        except OSError:
            self.close_connection = True

    def _drop(self) -> None:
        """Abort the connection: RST instead of an answer (a 'connection reset' on the client)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _raw_answer(fault: Raw, request: Request) -> Response:
    """The raw answer, with ``{assertion}``/``{authorization}`` in its body and header values replaced
    by the request's own secrets (a far side that echoes them)."""
    secrets = {
        "{assertion}": request.form().get("client_assertion", "") if b"{assertion}" in fault.body else "",
        "{authorization}": (request.header("authorization") or "").partition(" ")[2],
        "{identity_header}": request.header("x-identity-header") or "",
        "{amz_security_token}": request.header("x-amz-security-token") or "",
    }

    def echo(text: str) -> str:
        for placeholder, value in secrets.items():
            text = text.replace(placeholder, value)
        return text

    body = echo(fault.body.decode("latin-1")).encode("latin-1")
    headers = tuple((name, echo(value)) for name, value in fault.headers)
    return Response(fault.status, body, headers, fault.content_type, raw=True)


def _first_values(query: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        values.setdefault(name, value)
    return values


def _with_header(response: Response, name: str, value: str) -> Response:
    return Response(
        response.status,
        response.body,
        (*response.headers, (name, value)),
        response.content_type,
        response.error_code,
    )


def _header_safe(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
