"""Other clouds' identity endpoints, as a workload there sees them: an AWS-STS-compatible
``GetWebIdentityToken``, a GCE-compatible metadata server, and an App Service managed-identity endpoint.
Each issues tokens from an OIDC issuer of its own, which the sandbox's STS validates through discovery
like any issuer."""

from __future__ import annotations

import contextlib
import datetime
import re
import secrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from ._issuer import OidcIssuer
from ._server import HttpsServer, Request, Response, Route

AWS_ACCOUNT = "123456789012"
_STS_XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"
_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/\d{8}/([a-z0-9-]+)/sts/aws4_request")


def _xml(status: int, body: str, request_id: str) -> Response:
    return Response(status, body.encode("utf-8"), (("x-amzn-RequestId", request_id),), "text/xml")


@dataclass(frozen=True)
class _AwsIdentity:
    role_arn: str
    allowed: bool


class AwsSts:
    """STS's query API for ``GetWebIdentityToken``. Access keys are the sandbox's (:meth:`environment`);
    the request must be SigV4-signed for ``sts`` (the signature itself is not checked)."""

    def __init__(self, authority: str, prefix: str = "/aws") -> None:
        self._prefix = prefix
        self.endpoint = f"{authority}{prefix}/sts"
        self._issuer_path = f"{prefix}/{uuid.uuid4()}.tokens.sts.global.api.aws"  # AWS's issuer shape
        self.issuer = OidcIssuer(f"{authority}{self._issuer_path}")
        self.outbound_federation_enabled = True
        self._keys: dict[str, _AwsIdentity] = {}
        self._lock = threading.Lock()

    def environment(self, role: str, *, allowed: bool, region: str | None) -> dict[str, str]:
        key = "AKIA" + secrets.token_hex(8).upper()
        with self._lock:
            self._keys[key] = _AwsIdentity(f"arn:aws:iam::{AWS_ACCOUNT}:role/{role}", allowed)
        env = {
            "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
            "AWS_ENDPOINT_URL_STS": self.endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",  # botocore must never reach for a real metadata address
        }
        if region:
            env["AWS_REGION"] = region
        return env

    def routes(self) -> list[Route]:
        return [
            *self.issuer.routes(re.escape(self._issuer_path)),
            Route("POST", f"{self._prefix}/sts/?", "aws-sts", self._call),
        ]

    def _error(self, status: int, code: str, message: str, request_id: str) -> Response:
        kind = "Sender" if status < 500 else "Receiver"
        body = (
            f'<ErrorResponse xmlns="{_STS_XMLNS}"><Error><Type>{kind}</Type><Code>{code}</Code>'
            f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return _xml(status, body, request_id)

    def _call(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        form = request.form()
        if form.get("Action") != "GetWebIdentityToken":
            return self._error(
                400, "InvalidAction", f"Could not find operation {form.get('Action')}", request_id
            )
        signed = _CREDENTIAL.search(request.header("authorization") or "")
        if not signed:
            return self._error(
                403, "MissingAuthenticationToken", "Request is missing Authentication Token", request_id
            )
        with self._lock:
            identity = self._keys.get(signed.group(1))
        if identity is None:
            return self._error(
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
                request_id,
            )
        if not self.outbound_federation_enabled:
            return self._error(
                403,
                "OutboundWebIdentityFederationDisabledException",
                "Outbound web identity federation is disabled for this account.",
                request_id,
            )
        if not identity.allowed:
            return self._error(
                403,
                "AccessDenied",
                f"User: {identity.role_arn} is not authorized to perform: sts:GetWebIdentityToken",
                request_id,
            )
        audiences = [v for k, v in sorted(form.items()) if k.startswith("Audience.member.")]
        duration = int(form.get("DurationSeconds") or 300)
        if (
            not audiences
            or not 60 <= duration <= 3600
            or form.get("SigningAlgorithm") not in ("RS256", "ES384")
        ):
            return self._error(
                400,
                "ValidationError",
                "Audience, SigningAlgorithm and DurationSeconds (60-3600) must be valid",
                request_id,
            )
        now = int(time.time())
        region = signed.group(2)
        token = self.issuer.sign(
            {
                "iss": self.issuer.url,
                "sub": identity.role_arn,
                "aud": audiences[0] if len(audiences) == 1 else audiences,
                "iat": now,
                "nbf": now,
                "exp": now + duration,
                "jti": str(uuid.uuid4()),
                "https://sts.amazonaws.com/": {
                    "aws_account": AWS_ACCOUNT,
                    "source_region": region,
                    "principal_id": identity.role_arn,
                },
            }
        )
        expiration = datetime.datetime.fromtimestamp(now + duration, datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        body = (
            f'<GetWebIdentityTokenResponse xmlns="{_STS_XMLNS}"><GetWebIdentityTokenResult>'
            f"<WebIdentityToken>{token}</WebIdentityToken><Expiration>{expiration}</Expiration>"
            f"</GetWebIdentityTokenResult><ResponseMetadata><RequestId>{request_id}</RequestId>"
            "</ResponseMetadata></GetWebIdentityTokenResponse>"
        )
        return _xml(200, body, request_id)


class GceMetadata:
    """The metadata server's identity endpoint (plain http, ``Metadata-Flavor: Google``)."""

    def __init__(self, authority: str, prefix: str = "/gcp") -> None:
        self.issuer = OidcIssuer(f"{authority}{prefix}")
        self._prefix = prefix
        self.service_account_id = str(secrets.randbelow(10**20) + 10**20)
        self.email = "workload@sandbox-project.iam.gserviceaccount.com"

    def issuer_routes(self) -> list[Route]:
        return self.issuer.routes(self._prefix)

    def metadata_routes(self) -> list[Route]:
        return [
            Route(
                "GET",
                "/computeMetadata/v1/instance/service-accounts/default/identity",
                "gce-metadata",
                self._identity,
            )
        ]

    def _identity(self, request: Request) -> Response:
        flavor = (("Metadata-Flavor", "Google"),)
        if request.header("metadata-flavor") != "Google":
            return Response(403, b"Missing required header: Metadata-Flavor\n", flavor, "text/html")
        audience = request.query.get("audience", "")
        if not audience:
            return Response(400, b"non-empty audience parameter required\n", flavor, "text/html")
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer.url,
            "sub": self.service_account_id,
            "aud": audience,
            "azp": self.service_account_id,
            "iat": now,
            "exp": now + 3600,
        }
        if request.query.get("format") == "full":
            claims.update(
                email=self.email,
                email_verified=True,
                google={
                    "compute_engine": {
                        "project_id": "sandbox-project",
                        "zone": "us-central1-a",
                        "instance_name": "workload-vm",
                    }
                },
            )
        return Response(200, self.issuer.sign(claims).encode("ascii"), flavor, "text/html")


class AppServiceIdentity:
    """App Service's managed-identity endpoint (``IDENTITY_ENDPOINT`` + ``X-IDENTITY-HEADER``), which
    azure-identity's ManagedIdentityCredential speaks; its tokens come from an Entra-like MI issuer."""

    def __init__(self, authority: str, prefix: str = "/managed-identity") -> None:
        self._prefix = prefix
        self.tenant_id = str(uuid.uuid4())
        self.issuer = OidcIssuer(f"{authority}{prefix}/{self.tenant_id}/v2.0")
        self.secret = secrets.token_urlsafe(24)
        self.identities: dict[str, str] = {}  # client id -> principal (object) id; "" = system-assigned
        self.add_identity("")

    def add_identity(self, client_id: str) -> str:
        principal = str(uuid.uuid4())
        self.identities[client_id] = principal
        return principal

    def issuer_routes(self) -> list[Route]:
        return self.issuer.routes(f"{self._prefix}/{self.tenant_id}/v2\\.0")

    def endpoint_routes(self) -> list[Route]:
        return [Route("GET", "/msi/token", "managed-identity", self._token)]

    def _token(self, request: Request) -> Response:
        if request.header("x-identity-header") != self.secret:
            return Response.json(401, {"statusCode": 401, "message": "X-IDENTITY-HEADER is missing or wrong"})
        client_id = request.query.get("client_id", "")
        principal = self.identities.get(client_id)
        if principal is None:
            return Response.json(
                400, {"statusCode": 400, "message": f"No managed identity with client id {client_id}"}
            )
        resource = request.query.get("resource", "")
        now = int(time.time())
        token = self.issuer.sign(
            {
                "iss": self.issuer.url,
                "sub": principal,
                "oid": principal,
                "aud": resource,
                "tid": self.tenant_id,
                "iat": now,
                "nbf": now,
                "exp": now + 3600,
                "azp": client_id or "system-assigned",
            }
        )
        return Response.json(
            200,
            {
                "access_token": token,
                "expires_on": str(now + 3600),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": client_id,
            },
        )


class Clouds:
    """The other clouds of one running sandbox: AWS STS on the sandbox's HTTPS server, and a plain-http
    server playing the link-local metadata address (GCE metadata, App Service managed identity)."""

    def __init__(self, authority: str, host: str, **server_options: Any) -> None:
        self.host = host
        self.aws = AwsSts(authority)
        self.gcp = GceMetadata(authority)
        self.managed_identity = AppServiceIdentity(authority)
        self.metadata_server = HttpsServer(host, 0, None, **server_options)
        self._black_holes: list[socket.socket] = []

    def https_routes(self) -> list[Route]:
        return [*self.aws.routes(), *self.gcp.issuer_routes(), *self.managed_identity.issuer_routes()]

    def start(self) -> None:
        self.metadata_server.start([*self.gcp.metadata_routes(), *self.managed_identity.endpoint_routes()])

    def stop(self) -> None:
        self.metadata_server.stop()
        for sock in self._black_holes:
            sock.close()
        self._black_holes.clear()

    @property
    def metadata_address(self) -> str:
        return f"{self.host}:{self.metadata_server.port}"

    def black_hole(self) -> str:
        """``host:port`` of an address that silently drops connection attempts, as a link-local
        metadata address does off-cloud: a listener whose accept queue is full and never drained."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((self.host, 0))
        listener.listen(0)
        address = listener.getsockname()
        fillers = []
        for _ in range(4):  # fill the accept queue; later SYNs are dropped, so connecting times out
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            with contextlib.suppress(OSError):  # BlockingIOError: in progress, as wanted
                filler.connect(address)
            fillers.append(filler)
        self._black_holes.extend([listener, *fillers])
        return f"{address[0]}:{address[1]}"
