"""The Sandbox: a local, HTTPS, Entra-compatible token service plus external OIDC issuers."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Sequence

from ._clouds import Clouds
from ._directory import App, Directory, FederatedCredential
from ._entra_errors import THROTTLING_CODES, EntraError
from ._entra_metadata import EntraMetadata
from ._faults import Drop, Failure, FaultPlan, Raw
from ._github import GithubActions
from ._graph import Graph
from ._http_client import CaPinnedHttpClient
from ._issuer import OidcIssuer
from ._issuer_keys import IssuerKeys
from ._pipelines import TOKEN_EXCHANGE_AUDIENCE, AzurePipelines
from ._pki import SigningKey, TlsFiles, new_signing_key, write_tls_files
from ._records import RecordedRequest, Recorder
from ._server import Handler, HttpsServer, Request, Response, Route, error_response
from ._sts import TokenService
from ._token_proxy import IdentityBindingProxy

DEFAULT_SUBJECT = "system:serviceaccount:default:web"
GRAPH_RESOURCE = "https://graph.microsoft.com"

#: Endpoint names for request_count(), recorded(), fail_next(), set_latency() and drop_next().
#: The "issuer-*" names cover every issuer the sandbox runs (its own, GitHub's and Pipelines').
ENDPOINTS = (
    "token",
    "openid-configuration",
    "keys",
    "instance-discovery",
    "issuer-openid-configuration",
    "issuer-keys",
    "github",
    "pipelines",
    "aws-sts",
    "gce-metadata",
    "managed-identity",
    "azure-proxy",
    "azure-proxy-refused",
    "graph",
)

_TENANT = "(?P<tenant>[^/]+)"
_DISCOVERY = f"/{_TENANT}/v2\\.0/\\.well-known/openid-configuration"


@dataclass
class _Running:
    directory: str
    tls: TlsFiles
    server: HttpsServer
    authority: str
    sts_key: SigningKey
    issuer: OidcIssuer
    issuer_keys: IssuerKeys
    sts: TokenService
    github: GithubActions
    pipelines: AzurePipelines
    clouds: Clouds
    azure_proxy: IdentityBindingProxy | None = None


class Sandbox:
    """A local stand-in for Microsoft Entra ID and for an external OIDC identity provider.

    Real, unmodified MSAL and azure-identity work against it over HTTPS, and it rejects what Entra
    rejects, with Entra's error shapes and AADSTS codes. Use it as a context manager, or call
    :meth:`start` and :meth:`stop`. Nothing listens, and no key exists, until it starts.

    ``token_lifetime`` (seconds) and ``refresh_in`` (seconds, or None to leave it out of responses)
    shape the access tokens; like ``record_bodies`` and ``clock_skew`` (the leeway, in seconds, when
    checking an assertion's ``nbf``/``exp``) and ``fic_propagation_delay`` (seconds before a Graph change
    to a federated credential reaches the STS) they are plain attributes a test may change at any time.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        token_lifetime: int = 3600,
        refresh_in: int | None = None,
        *,
        port: int = 0,
        record_bodies: bool = False,
        clock_skew: float = 0.0,
        fic_propagation_delay: float = 0.0,
        legacy_fic_errors: bool = False,
    ) -> None:
        self.token_lifetime = token_lifetime
        #: Answer a FIC mismatch with the older AADSTS70021 (all three values, ``\r\n`` lines) instead of
        #: today's AADSTS700211 / 700213 / 700212 (the field that differs, one line).
        self.legacy_fic_errors = legacy_fic_errors
        #: Seconds before a federated credential created, changed or deleted through Graph governs the STS.
        self.fic_propagation_delay = fic_propagation_delay
        self.refresh_in = refresh_in
        self.record_bodies = record_bodies
        self.clock_skew = clock_skew
        self._requested_port = port
        self._directory = Directory()
        self._recorder = Recorder()
        self._faults = FaultPlan()
        self._lock = threading.Lock()
        self._running: _Running | None = None

    # Lifecycle

    def start(self) -> Sandbox:
        """Make the keys and certificates and start serving HTTPS on 127.0.0.1."""
        with self._lock:
            if self._running is not None:
                raise RuntimeError("the sandbox is already running")
            directory = tempfile.mkdtemp(prefix="azure-wif-sandbox-")
            try:
                self._running = self._start(directory)
            except BaseException:
                shutil.rmtree(directory, ignore_errors=True)
                raise
        return self

    def _start(self, directory: str) -> _Running:
        tls = write_tls_files(directory, host=self.host)
        server = HttpsServer(
            self.host,
            self._requested_port,
            tls,
            recorder=self._recorder,
            faults=self._faults,
            record_bodies=lambda: self.record_bodies,
        )
        issuer_keys: IssuerKeys | None = None
        try:
            authority = f"https://{self.host}:{server.port}"
            sts_key = new_signing_key(with_certificate=True, subject="sandbox STS token signing")
            issuer_keys = IssuerKeys(tls.ca_file)
            running = _Running(
                directory=directory,
                tls=tls,
                server=server,
                authority=authority,
                sts_key=sts_key,
                issuer=OidcIssuer(f"{authority}/issuer"),
                issuer_keys=issuer_keys,
                sts=TokenService(self._directory, issuer_keys, sts_key, self),
                github=GithubActions(authority),
                pipelines=AzurePipelines(authority),
                clouds=Clouds(
                    authority,
                    self.host,
                    recorder=self._recorder,
                    faults=self._faults,
                    record_bodies=lambda: self.record_bodies,
                ),
            )
            token, metadata = self._entra_handlers(running)
            server.start(self._routes(running, token, metadata))
            running.clouds.start()
            running.azure_proxy = IdentityBindingProxy(
                directory,
                self.host,
                token=token,
                discovery=metadata.openid_configuration,
                recorder=self._recorder,
                faults=self._faults,
                record_bodies=lambda: self.record_bodies,
            )
            running.azure_proxy.start()
            return running
        except BaseException:
            server.stop()
            if issuer_keys is not None:
                issuer_keys.close()
            raise

    def _entra_handlers(self, running: _Running) -> tuple[Handler, EntraMetadata]:
        metadata = EntraMetadata(running.authority, self._directory, running.sts_key)

        def token(request: Request) -> Response:
            try:
                return Response.json(200, running.sts.issue(request.params["tenant"], request.form()))
            except EntraError as error:
                return error_response(error, request)

        return token, metadata

    def _routes(self, running: _Running, token: Handler, metadata: EntraMetadata) -> list[Route]:
        return [
            Route("POST", f"/{_TENANT}/oauth2/v2\\.0/token", "token", token),
            Route("GET", "/common/discovery/instance", "instance-discovery", metadata.instance_discovery),
            Route("GET", _DISCOVERY, "openid-configuration", metadata.openid_configuration),
            Route("GET", f"/{_TENANT}/discovery/v2\\.0/keys", "keys", metadata.keys),
            Route("GET", f"/{_TENANT}/discovery/keys", "keys", metadata.keys),
            *running.issuer.routes("/issuer"),
            *running.github.routes(),
            *running.pipelines.routes(),
            *running.clouds.https_routes(),
            *Graph(
                self._directory,
                lambda token: running.sts.verify(
                    token, audience=[GRAPH_RESOURCE, f"{running.authority}/graph"]
                ),
                github_issuers=lambda: (running.github.issuer.url,),
                loopback_issuer=lambda issuer: issuer.startswith(running.authority + "/"),
                propagation_delay=lambda: float(self.fic_propagation_delay),
            ).routes(),
        ]

    def stop(self) -> None:
        """Stop serving, close every connection, join the server's threads and delete the key files."""
        with self._lock:
            running, self._running = self._running, None
        if running is None:
            return
        try:
            if running.azure_proxy is not None:
                running.azure_proxy.stop()
            running.clouds.stop()
            running.server.stop()
        finally:
            running.issuer_keys.close()
            shutil.rmtree(running.directory, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        running = self._running
        return f"Sandbox(authority={running.authority!r})" if running else "Sandbox(stopped)"

    @property
    def running(self) -> bool:
        return self._running is not None

    def _state(self) -> _Running:
        running = self._running
        if running is None:
            raise RuntimeError("the sandbox is not running: use `with Sandbox() as sandbox:` or call start()")
        return running

    # Where it is

    @property
    def port(self) -> int:
        return self._state().server.port

    @property
    def authority(self) -> str:
        """The authority host URL, ``https://127.0.0.1:PORT``; the tenant goes after it."""
        return self._state().authority

    @property
    def ca_file(self) -> str:
        """PEM file of the CA that signed the server certificate (deleted at stop)."""
        return self._state().tls.ca_file

    @property
    def issuer(self) -> str:
        """URL of the sandbox's external OIDC issuer (the one :meth:`issue_assertion` signs as)."""
        return self._state().issuer.url

    @property
    def github_issuer(self) -> str:
        """URL of the GitHub-Actions-like issuer (see :meth:`github_actions_env`)."""
        return self._state().github.issuer.url

    @property
    def pipelines_issuer(self) -> str:
        """URL of the Azure-Pipelines-like issuer (see :meth:`azure_pipelines_env`)."""
        return self._state().pipelines.issuer.url

    # Other clouds, as a workload there sees them

    @property
    def aws_issuer(self) -> str:
        """URL of the AWS-like issuer of :meth:`aws_env`'s tokens (``.../<uuid>.tokens.sts.global.api.aws``)."""
        return self._state().clouds.aws.issuer.url

    def aws_role_arn(self, role: str = "deploy") -> str:
        """The ``sub`` of a role's tokens: ``arn:aws:iam::123456789012:role/<role>``."""
        return f"arn:aws:iam::123456789012:role/{role}"

    def aws_env(
        self, role: str = "deploy", *, region: str | None = "us-east-1", allowed: bool = True
    ) -> dict[str, str]:
        """Variables of a workload with dummy AWS credentials for ``role``, whose botocore STS calls
        reach the sandbox (``AWS_ENDPOINT_URL_STS``, ``AWS_CA_BUNDLE``); ``allowed=False`` makes
        GetWebIdentityToken answer AccessDenied. Set ``aws_outbound_federation = False`` for the
        account-level refusal."""
        state = self._state()
        return {
            **state.clouds.aws.environment(role, allowed=allowed, region=region),
            "AWS_CA_BUNDLE": self.ca_file,
        }

    @property
    def aws_outbound_federation(self) -> bool:
        return self._state().clouds.aws.outbound_federation_enabled

    @aws_outbound_federation.setter
    def aws_outbound_federation(self, enabled: bool) -> None:
        self._state().clouds.aws.outbound_federation_enabled = enabled

    @property
    def gcp_issuer(self) -> str:
        """URL of the Google-like issuer of the metadata server's identity tokens."""
        return self._state().clouds.gcp.issuer.url

    @property
    def gcp_service_account_id(self) -> str:
        """The ``sub`` of the metadata server's identity tokens (the service account's unique id)."""
        return self._state().clouds.gcp.service_account_id

    def gcp_metadata_env(self) -> dict[str, str]:
        """``GCE_METADATA_HOST`` of the sandbox's metadata server (plain http, as on Google Cloud)."""
        return {"GCE_METADATA_HOST": self._state().clouds.metadata_address}

    @property
    def managed_identity_issuer(self) -> str:
        """URL of the Entra-like issuer of the managed identity's tokens."""
        return self._state().clouds.managed_identity.issuer.url

    def managed_identity_principal(self, client_id: str | None = None) -> str:
        """The object id (``sub``) of the system-assigned identity, or of a user-assigned one (added
        on first use)."""
        identity = self._state().clouds.managed_identity
        key = client_id or ""
        return identity.identities.get(key) or identity.add_identity(key)

    def managed_identity_env(self) -> dict[str, str]:
        """App Service's ``IDENTITY_ENDPOINT``/``IDENTITY_HEADER``, as azure-identity reads them."""
        state = self._state()
        return {
            "IDENTITY_ENDPOINT": f"http://{state.clouds.metadata_address}/msi/token",
            "IDENTITY_HEADER": state.clouds.managed_identity.secret,
        }

    def azure_proxy_env(self) -> dict[str, str]:
        """The variables AKS sets for a pod with an identity binding: ``AZURE_KUBERNETES_TOKEN_PROXY``,
        ``AZURE_KUBERNETES_SNI_NAME`` and ``AZURE_KUBERNETES_CA_FILE`` (the proxy's own CA)."""
        proxy = self._state().azure_proxy
        assert proxy is not None
        return proxy.environment()

    def rotate_azure_proxy_ca(self, *, publish: bool = True) -> None:
        """Give the token proxy a new CA and certificate; ``publish`` also writes the new CA to the
        pod's CA file (False: only the server has rotated so far)."""
        proxy = self._state().azure_proxy
        assert proxy is not None
        proxy.rotate_ca(publish=publish)

    def black_hole(self) -> str:
        """``host:port`` (loopback) where connection attempts are silently dropped, as a cloud's
        link-local metadata address behaves off that cloud."""
        return self._state().clouds.black_hole()

    def http_client(self, *, timeout: float = 10.0) -> CaPinnedHttpClient:
        """A client that trusts only this sandbox's CA, for MSAL's ``http_client=`` (close it after use)."""
        return CaPinnedHttpClient(self.ca_file, timeout=timeout)

    # The directory

    def register_app(
        self,
        subject: str | None = DEFAULT_SUBJECT,
        *,
        tenant_id: str | None = None,
        client_id: str | None = None,
        issuer: str | None = None,
        audience: str = TOKEN_EXCHANGE_AUDIENCE,
        graph_roles: Sequence[str] = (),
    ) -> App:
        """Register an app (new tenant and client ids unless given) with one federated credential.

        The credential trusts ``issuer`` (default: :attr:`issuer`) for ``subject`` and ``audience``
        (``subject=None``: no credential at all). An existing ``client_id`` with another ``tenant_id``
        puts the same app in a second tenant. ``graph_roles`` are the app roles it holds on Microsoft
        Graph (e.g. ``Application.ReadWrite.All``): its Graph tokens carry them, and the sandbox's
        Graph (:attr:`graph_endpoint`) authorizes by them.
        """
        credential = (
            None
            if subject is None
            else FederatedCredential(issuer=issuer or self.issuer, subject=subject, audience=audience)
        )
        return self._directory.register(tenant_id, client_id, credential, tuple(graph_roles))

    @property
    def graph_endpoint(self) -> str:
        """The sandbox's Microsoft Graph (``{graph_endpoint}/v1.0/...``, ``{graph_endpoint}/beta/...``)."""
        return f"{self.authority}/graph"

    def add_federated_credential(
        self,
        client_id: str,
        *,
        issuer: str,
        subject: str,
        audience: str = TOKEN_EXCHANGE_AUDIENCE,
        tenant_id: str | None = None,
    ) -> None:
        """Trust one more (issuer, subject, audience) for the app, in ``tenant_id`` or every tenant it's in."""
        credential = FederatedCredential(issuer=issuer, subject=subject, audience=audience)
        self._directory.add_credential(client_id, credential, tenant_id=tenant_id)

    # Tokens

    def issue_assertion(
        self,
        subject: str = DEFAULT_SUBJECT,
        audience: str = TOKEN_EXCHANGE_AUDIENCE,
        lifetime: int = 600,
        **claims: Any,
    ) -> str:
        """An RS256 JWT signed by the sandbox's issuer; keyword claims override the defaults.

        Defaults: iss, sub, aud, iat, nbf, exp (iat + lifetime) and jti. A claim given as None is left out.
        """
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": str(uuid.uuid4()),
        }
        payload.update(claims)
        return self._state().issuer.sign(
            {name: value for name, value in payload.items() if value is not None}
        )

    def rotate_issuer_key(self, *, keep_previous: bool = True) -> str:
        """Make the issuer sign with a new key (returns its kid); the old one stays published if asked."""
        return self._state().issuer.rotate_key(keep_previous=keep_previous)

    def verify_access_token(self, token: str, *, audience: str | None = None) -> dict[str, Any]:
        """Claims of an access token the sandbox issued; raises ``jwt.InvalidTokenError`` otherwise."""
        return self._state().sts.verify(token, audience=audience)

    # Records and faults

    def request_count(self, endpoint: str | None = "token") -> int:
        """How many requests ``endpoint`` received (None: all endpoints), since start or reset()."""
        return self._recorder.count(None if endpoint is None else _endpoint(endpoint))

    def recorded(self, endpoint: str | None = "token") -> list[RecordedRequest]:
        """The requests ``endpoint`` received (None: all endpoints), oldest first."""
        return self._recorder.list(None if endpoint is None else _endpoint(endpoint))

    def in_flight(self, endpoint: str | None = "token") -> int:
        """How many requests ``endpoint`` (None: all endpoints) received and has not answered yet."""
        return self._recorder.in_flight(None if endpoint is None else _endpoint(endpoint))

    def reset(self) -> None:
        """Forget recorded requests, pending faults, latency and cached issuer keys."""
        self._recorder.clear()
        self._faults.clear()
        running = self._running
        if running is not None:
            running.issuer_keys.clear()

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 500,
        retry_after: int | None = None,
        endpoint: str = "token",
        error: str | None = None,
        code: int | None = None,
    ) -> None:
        """Answer the next ``count`` requests to ``endpoint`` with ``status`` and an Entra-shaped error.

        ``retry_after`` adds a Retry-After header; ``error``/``code`` override the OAuth error and the
        AADSTS code chosen from the status.
        """
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status, not {status}")
        self._faults.queue(_endpoint(endpoint), Failure(status, retry_after, error, code), count)

    def throttle(
        self, count: int = 1, *, status: int = 429, retry_after: int = 60, endpoint: str = "token"
    ) -> None:
        """Throttle the next ``count`` requests to ``endpoint`` as Entra does: 429 with ``Retry-After``
        and ``temporarily_unavailable`` / AADSTS90055 (TenantThrottlingError), or ``status=503`` "too busy"
        with ``Retry-After`` and AADSTS90024 (RequestBudgetExceededError). Graph's endpoint answers
        Graph's own throttling error. :meth:`reset` clears throttles still queued."""
        if status not in (429, 503):
            raise ValueError(f"status must be 429 (throttled) or 503 (too busy), not {status}")
        if isinstance(retry_after, bool) or not isinstance(retry_after, int) or retry_after < 0:
            raise ValueError(f"retry_after must be a whole number of seconds, not {retry_after!r}")
        code = THROTTLING_CODES[status]
        self._faults.queue(
            _endpoint(endpoint), Failure(status, retry_after, "temporarily_unavailable", code), count
        )

    def answer_next(
        self,
        count: int = 1,
        *,
        status: int = 200,
        body: bytes | str = b"",
        headers: Sequence[tuple[str, str]] = (),
        content_type: str = "application/json; charset=utf-8",
        endpoint: str = "token",
    ) -> None:
        """Answer the next ``count`` requests to ``endpoint`` with exactly this status and body (any
        bytes: garbage, truncated JSON, HTML, a redirect with ``headers=[("Location", ...)]``).

        ``{assertion}`` / ``{authorization}`` in ``body`` are replaced by the request's
        client_assertion / bearer token: a far side that echoes the caller's secret back.
        """
        if not 100 <= status <= 599:
            raise ValueError(f"status must be an HTTP status, not {status}")
        if isinstance(headers, (str, bytes, dict)) or not all(
            isinstance(h, tuple) and len(h) == 2 and all(isinstance(p, str) for p in h) for h in headers
        ):
            raise TypeError('headers must be a sequence of (name, value) pairs, e.g. [("Retry-After", "1")]')
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        self._faults.queue(_endpoint(endpoint), Raw(status, data, tuple(headers), content_type), count)

    def drop_next(self, count: int = 1, *, endpoint: str = "token") -> None:
        """Close the connection of the next ``count`` requests to ``endpoint`` without answering."""
        self._faults.queue(_endpoint(endpoint), Drop(), count)

    def set_latency(self, seconds: float, *, endpoint: str = "token") -> None:
        """Delay every answer from ``endpoint`` by ``seconds`` (0 clears it).

        Requests already waiting follow the change: clearing the latency releases them at once, so a
        large latency holds requests (see :meth:`in_flight`) until a test lets them go.
        """
        self._faults.set_latency(_endpoint(endpoint), seconds)

    # CI-like issuers

    def github_actions_env(
        self,
        *,
        repository: str = "octo-org/octo-repo",
        ref: str = "refs/heads/main",
        token_lifetime: int = 300,
        environment: str | None = None,
        event_name: str = "push",
        owner_id: int | None = None,
        repository_id: int | None = None,
        immutable_subject: bool = False,
    ) -> dict[str, str]:
        """Environment variables of a GitHub Actions job allowed to request OIDC tokens.

        GET ``ACTIONS_ID_TOKEN_REQUEST_URL`` + ``&audience=X`` with ``Authorization: Bearer
        ACTIONS_ID_TOKEN_REQUEST_TOKEN`` answers ``{"count": 1, "value": JWT}``; the JWT's issuer is
        :attr:`github_issuer` and its subject ``repo:OWNER/REPO:ref:REF`` (``...:environment:ENV``
        when ``environment`` is given). With ``immutable_subject=True`` the subject names the owner and
        repository with their ids, as GitHub does since 2026-06-18 for new, renamed or transferred
        repositories: ``repo:OWNER-OWNERID/REPO-REPOID:ref:REF``. Every token carries
        ``repository_id``, ``repository_owner_id`` (``owner_id``/``repository_id``, random when not
        given) and ``check_run_id``.
        """
        return self._state().github.environment(
            repository=repository,
            ref=ref,
            token_lifetime=token_lifetime,
            environment=environment,
            event_name=event_name,
            owner_id=owner_id,
            repository_id=repository_id,
            immutable_subject=immutable_subject,
        )

    def azure_pipelines_env(
        self,
        *,
        service_connection_id: str | None = None,
        organization: str = "contoso",
        project: str = "web",
        connection_name: str = "azure-prod",
        token_lifetime: int = 600,
    ) -> dict[str, str]:
        """Environment variables of an Azure Pipelines job using a workload-identity service connection.

        POST ``SYSTEM_OIDCREQUESTURI?api-version=7.1&serviceConnectionId=ID`` with ``Authorization:
        Bearer SYSTEM_ACCESSTOKEN`` answers ``{"oidcToken": JWT}``; the JWT's issuer is
        :attr:`pipelines_issuer` and its subject ``sc://ORG/PROJECT/CONNECTION``.
        """
        return self._state().pipelines.environment(
            service_connection_id=service_connection_id,
            organization=organization,
            project=project,
            connection_name=connection_name,
            token_lifetime=token_lifetime,
        )


def _endpoint(name: str) -> str:
    if name in ENDPOINTS:
        return name
    raise ValueError(f"unknown sandbox endpoint {name!r}; known endpoints: {', '.join(ENDPOINTS)}")
