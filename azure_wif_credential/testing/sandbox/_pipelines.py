"""An Azure-Pipelines-like OIDC token service: what a job's SYSTEM_OIDCREQUESTURI answers."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from ..._audience import PUBLIC_CLOUD_AUDIENCE
from ._ci_jobs import CiJobs
from ._issuer import OidcIssuer
from ._server import Request, Response, Route, message_failure

TOKEN_EXCHANGE_AUDIENCE = PUBLIC_CLOUD_AUDIENCE


@dataclass(frozen=True)
class _Job:
    bearer_token: str
    organization: str
    project: str
    connections: dict[str, str]  # service connection id → name
    token_lifetime: int


class AzurePipelines:
    """Jobs with their OIDC request URI and System.AccessToken; their ID tokens are signed by ``issuer``."""

    def __init__(self, authority: str, prefix: str = "/pipelines") -> None:
        self._authority = authority
        self._prefix = prefix
        self.issuer = OidcIssuer(f"{authority}{prefix}")
        self._jobs: CiJobs[_Job] = CiJobs()

    def environment(
        self,
        *,
        service_connection_id: str | None,
        organization: str,
        project: str,
        connection_name: str,
        token_lifetime: int,
    ) -> dict[str, str]:
        """The variables an AzureCLI@2-style task sees for a workload-identity service connection."""
        connection_id = service_connection_id or str(uuid.uuid4())
        job = _Job(
            bearer_token=secrets.token_urlsafe(32),
            organization=organization,
            project=project,
            connections={connection_id: connection_name},
            token_lifetime=token_lifetime,
        )
        plan_id, job_id = self._jobs.add(job)
        project_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{organization}/{project}")
        uri = (
            f"{self._authority}{self._prefix}/{organization}/{project_id}/_apis/distributedtask/hubs/build"
            f"/plans/{plan_id}/jobs/{job_id}/oidctoken"
        )
        return {
            "SYSTEM_OIDCREQUESTURI": uri,
            "SYSTEM_ACCESSTOKEN": job.bearer_token,
            "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID": connection_id,
            "TF_BUILD": "True",
        }

    def routes(self) -> list[Route]:
        token = Route(
            "POST",
            f"{self._prefix}/[^/]+/[^/]+/_apis/distributedtask/hubs/build/plans/(?P<plan>[^/]+)"
            "/jobs/(?P<job>[^/]+)/oidctoken",
            "pipelines",
            self._oidc_token,
            failure_body=message_failure,
        )
        return [*self.issuer.routes(self._prefix), token]

    def _oidc_token(self, request: Request) -> Response:
        job = self._jobs.authorized(request)
        if job is None:
            return Response.json(
                401, {"message": "TF400813: The user is not authorized to access this resource."}
            )
        connection_id = request.query.get("serviceConnectionId")
        if not connection_id:
            return _service_error(400, "The serviceConnectionId query parameter is required.")
        connection_name = job.connections.get(connection_id)
        if connection_name is None:
            return _service_error(
                404,
                f"Service connection {connection_id} was not found in project {job.project}, or it can't be used.",
            )
        now = int(time.time())
        claims = {
            "jti": str(uuid.uuid4()),
            "sub": f"sc://{job.organization}/{job.project}/{connection_name}",
            "aud": TOKEN_EXCHANGE_AUDIENCE,
            "iss": self.issuer.url,
            "nbf": now,
            "iat": now,
            "exp": now + job.token_lifetime,
        }
        return Response.json(200, {"oidcToken": self.issuer.sign(claims)})


def _service_error(status: int, message: str) -> Response:
    document: dict[str, Any] = {
        "$id": "1",
        "innerException": None,
        "message": message,
        "typeName": "Microsoft.TeamFoundation.DistributedTask.WebApi.ServiceEndpointException",
        "typeKey": "ServiceEndpointException",
        "errorCode": 0,
        "eventId": 3000,
    }
    return Response.json(status, document)
