"""A GitHub-Actions-like OIDC token service: what a job's ACTIONS_ID_TOKEN_REQUEST_URL answers."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass

from ._ci_jobs import CiJobs
from ._issuer import OidcIssuer
from ._server import Request, Response, Route, message_failure

_CLAIMS = (
    "sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "sha", "repository", "repository_id",
    "repository_owner", "repository_owner_id", "run_id", "run_number", "run_attempt", "actor", "actor_id",
    "workflow", "workflow_ref", "workflow_sha", "head_ref", "base_ref", "event_name", "ref_type",
    "ref_protected", "environment", "job_workflow_ref", "job_workflow_sha", "runner_environment",
    "repository_visibility", "check_run_id",
)  # fmt: skip


@dataclass(frozen=True)
class _Job:
    bearer_token: str
    repository: str
    ref: str
    token_lifetime: int
    environment: str | None
    event_name: str
    sha: str
    run_id: int
    repository_id: int
    owner_id: int
    immutable_subject: bool

    @property
    def owner(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def subject(self) -> str:
        # GitHub's default subject: the environment wins over the ref when the job has one. Since
        # 2026-06-18 repositories created, renamed or transferred on github.com (and those that opt in)
        # name themselves with their ids: repo:OWNER-OWNERID/REPO-REPOID:...
        repository = self.repository
        if self.immutable_subject:
            name = self.repository.split("/", 1)[1]
            repository = f"{self.owner}-{self.owner_id}/{name}-{self.repository_id}"
        if self.environment:
            return f"repo:{repository}:environment:{self.environment}"
        return f"repo:{repository}:ref:{self.ref}"


class GithubActions:
    """Jobs with their request URL and bearer token; their ID tokens are signed by ``issuer``."""

    def __init__(self, authority: str, prefix: str = "/github") -> None:
        self._authority = authority
        self._prefix = prefix
        self.issuer = OidcIssuer(f"{authority}{prefix}", claims_supported=_CLAIMS)
        self._jobs: CiJobs[_Job] = CiJobs()

    def environment(
        self,
        *,
        repository: str,
        ref: str,
        token_lifetime: int,
        environment: str | None,
        event_name: str,
        owner_id: int | None = None,
        repository_id: int | None = None,
        immutable_subject: bool = False,
    ) -> dict[str, str]:
        """The variables a job that may request ID tokens (``permissions: id-token: write``) sees."""
        if repository.count("/") != 1:
            raise ValueError(f"repository must be 'owner/name', not {repository!r}")
        for name, value in (("owner_id", owner_id), ("repository_id", repository_id)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                raise ValueError(f"{name} must be a positive whole number, not {value!r}")
        job = _Job(
            bearer_token=secrets.token_urlsafe(32),
            repository=repository,
            ref=ref,
            token_lifetime=token_lifetime,
            environment=environment,
            event_name=event_name,
            sha=secrets.token_hex(20),
            run_id=secrets.randbelow(10**10),
            repository_id=repository_id or 1 + secrets.randbelow(10**9),
            owner_id=owner_id or 1 + secrets.randbelow(10**8),
            immutable_subject=immutable_subject,
        )
        plan_id, job_id = self._jobs.add(job)
        url = (
            f"{self._authority}{self._prefix}/_apis/distributedtask/hubs/Actions/plans/{plan_id}"
            f"/jobs/{job_id}/idtoken?api-version=2.0"
        )
        return {
            "ACTIONS_ID_TOKEN_REQUEST_URL": url,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": job.bearer_token,
            "GITHUB_ACTIONS": "true",
        }

    def routes(self) -> list[Route]:
        token = Route(
            "GET",
            f"{self._prefix}/_apis/distributedtask/hubs/Actions/plans/(?P<plan>[^/]+)/jobs/(?P<job>[^/]+)/idtoken",
            "github",
            self._id_token,
            failure_body=message_failure,
        )
        return [*self.issuer.routes(self._prefix), token]

    def _id_token(self, request: Request) -> Response:
        job = self._jobs.authorized(request)
        if job is None:
            return Response.json(
                401, {"message": "Bad credentials: the bearer token is not this job's request token."}
            )
        audience = request.query.get("audience") or f"https://github.com/{job.owner}"
        now = int(time.time())
        workflow_ref = f"{job.repository}/.github/workflows/ci.yml@{job.ref}"
        claims: dict[str, object] = {
            "jti": str(uuid.uuid4()),
            "sub": job.subject,
            "aud": audience,
            "ref": job.ref,
            "sha": job.sha,
            "repository": job.repository,
            "repository_owner": job.owner,
            "repository_owner_id": str(job.owner_id),
            "run_id": str(job.run_id),
            "run_number": "1",
            "run_attempt": "1",
            "repository_visibility": "private",
            "repository_id": str(job.repository_id),
            "actor_id": str(job.owner_id),
            "actor": job.owner,
            "workflow": "CI",
            "head_ref": "",
            "base_ref": "",
            "event_name": job.event_name,
            "ref_protected": "false",
            "ref_type": "tag" if job.ref.startswith("refs/tags/") else "branch",
            "workflow_ref": workflow_ref,
            "workflow_sha": job.sha,
            "job_workflow_ref": workflow_ref,
            "job_workflow_sha": job.sha,
            "runner_environment": "github-hosted",
            "check_run_id": str(1 + secrets.randbelow(10**11)),
            "iss": self.issuer.url,
            "nbf": now - 5,
            "exp": now + job.token_lifetime,
            "iat": now,
        }
        if job.environment:
            claims["environment"] = job.environment
        return Response.json(200, {"count": 1, "value": self.issuer.sign(claims)})
