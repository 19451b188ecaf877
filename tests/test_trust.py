"""Establishing the trust: federated identity credentials through the sandbox's Microsoft Graph, with
Entra's rules, flexible FICs, propagation, and the warnings about the mistakes users make."""

from __future__ import annotations

import warnings
from typing import Any, Callable, Iterator, List

import pytest
from helpers import sandbox_credential, wait_until

from azure_wif_credential import FederatedTokenCredential, TokenExchangeError
from azure_wif_credential.sandbox import Sandbox
from azure_wif_credential.trust import (
    GITHUB_ISSUER,
    ExpressionError,
    FederatedIdentityCredential,
    FederatedIdentityCredentials,
    GraphError,
    TrustWarning,
    github_subject,
    graph_endpoint_for,
    kubernetes_subject,
)
from azure_wif_credential.trust._expressions import parse

STORAGE = "https://storage.azure.com/.default"
ADMIN_SUBJECT = "system:serviceaccount:platform:trust-admin"


def admin_credential(sandbox: Sandbox, tenant_id: str, roles: List[str]) -> FederatedTokenCredential:
    admin = sandbox.register_app(subject=ADMIN_SUBJECT, tenant_id=tenant_id, graph_roles=roles)
    credential: FederatedTokenCredential = sandbox_credential(sandbox, admin, ADMIN_SUBJECT)
    return credential


@pytest.fixture
def target(sandbox: Sandbox) -> Any:
    """An app registration without any federated credential yet."""
    return sandbox.register_app(subject=None)


@pytest.fixture
def make_fics(sandbox: Sandbox, target: Any) -> Iterator[Callable[..., FederatedIdentityCredentials]]:
    made: List[Any] = []

    def make(roles: Any = ("Application.ReadWrite.All",), **kwargs: Any) -> FederatedIdentityCredentials:
        credential = admin_credential(sandbox, target.tenant_id, list(roles))
        kwargs.setdefault("application", target.client_id)
        fics = FederatedIdentityCredentials(
            credential,
            graph_endpoint=sandbox.graph_endpoint,
            connection_verify=sandbox.ca_file,
            retry_total=2,
            **kwargs,
        )
        made.extend([fics, credential])
        return fics

    yield make
    for thing in made:
        thing.close()


def workload(sandbox: Sandbox, app: Any, subject: str, issuer: Any = None) -> FederatedTokenCredential:
    def assertion() -> str:
        return sandbox.issue_assertion(subject=subject) if issuer is None else issuer()

    credential: FederatedTokenCredential = sandbox_credential(
        sandbox, app, assertion=assertion, retry_total=0
    )
    return credential


def test_create_list_get_update_delete_and_the_sts_follows(
    sandbox: Sandbox, target: Any, make_fics: Callable[..., FederatedIdentityCredentials]
) -> None:
    fics = make_fics()
    assert fics.list() == []
    created = fics.create(
        FederatedIdentityCredential(
            name="web", issuer=sandbox.issuer, subject="system:serviceaccount:prod:web"
        )
    )
    assert created.id and created.audiences == ["api://AzureADTokenExchange"]
    assert fics.get("web") == created and fics.list() == [created]
    with workload(sandbox, target, "system:serviceaccount:prod:web") as credential:
        assert sandbox.verify_access_token(credential.get_token(STORAGE).token), "the new FIC governs the STS"
    updated = fics.update("web", description="the web tier")
    assert updated.description == "the web tier" and updated.id == created.id
    fics.delete("web")
    with pytest.raises(GraphError) as missing:
        fics.get("web")
    assert (missing.value.status_code, missing.value.code) == (404, "Request_ResourceNotFound")
    assert missing.value.request_id
    with (
        workload(sandbox, target, "system:serviceaccount:prod:web") as credential,
        pytest.raises(TokenExchangeError) as refused,
    ):
        credential.get_token(STORAGE)
    assert 700211 in refused.value.error_codes, "the deleted FIC no longer governs the STS"


def test_object_id_addresses_the_same_application(
    sandbox: Sandbox, target: Any, make_fics: Callable[..., FederatedIdentityCredentials]
) -> None:
    by_app_id = make_fics()
    by_app_id.create(FederatedIdentityCredential(name="one", issuer=sandbox.issuer, subject="one"))
    by_object_id = make_fics(application=None, object_id=target.application_object_id)
    assert [f.name for f in by_object_id.list()] == ["one"]
    with pytest.raises(ValueError, match="must be a GUID"):
        FederatedIdentityCredentials(object(), application="my-app")
    with pytest.raises(ValueError, match="exactly one of application"):
        make_fics(object_id=target.application_object_id)


def test_a_new_fic_governs_the_sts_after_the_propagation_delay(
    sandbox: Sandbox, target: Any, make_fics: Callable[..., FederatedIdentityCredentials]
) -> None:
    sandbox.fic_propagation_delay = 0.5
    make_fics().create(FederatedIdentityCredential(name="late", issuer=sandbox.issuer, subject="late"))
    credential = workload(sandbox, target, "late")
    with pytest.raises(TokenExchangeError) as early:
        credential.get_token(STORAGE)
    assert 700211 in early.value.error_codes, "not yet propagated"

    def works() -> bool:
        try:
            return bool(credential.get_token("https://vault.azure.net/.default"))
        except TokenExchangeError:
            return False

    wait_until(works, timeout=10)
    credential.close()


def test_graphs_rules(sandbox: Sandbox, make_fics: Callable[..., FederatedIdentityCredentials]) -> None:
    fics = make_fics()
    fics.create(FederatedIdentityCredential(name="first", issuer=sandbox.issuer, subject="s-0"))
    with pytest.raises(GraphError, match=r"(?i)name first already exists") as same_name:
        fics.create(FederatedIdentityCredential(name="FIRST", issuer=sandbox.issuer, subject="other"))
    assert same_name.value.code == "Request_MultipleObjectsWithSameKeyValue"
    with pytest.raises(GraphError, match="FederatedIdentityCredential 'first' already has issuer"):
        fics.create(FederatedIdentityCredential(name="again", issuer=sandbox.issuer, subject="s-0"))
    for number in range(1, 20):
        fics.create(
            FederatedIdentityCredential(name=f"fic-{number:02}", issuer=sandbox.issuer, subject=f"s-{number}")
        )
    with pytest.raises(GraphError, match="at most 20"):
        fics.create(FederatedIdentityCredential(name="twenty-first", issuer=sandbox.issuer, subject="s-21"))
    # What the client refuses locally, Graph refuses too (sent raw, past the client's checks):
    application = fics._application
    for body, words in [
        (
            {"name": "two-aud", "issuer": sandbox.issuer, "subject": "x", "audiences": ["a", "b"]},
            "exactly one value",
        ),
        (
            {"name": "long", "issuer": sandbox.issuer, "subject": "x" * 601, "audiences": ["a"]},
            "maximum length of 600",
        ),
        ({"name": "x", "issuer": sandbox.issuer, "subject": "x", "audiences": ["a"]}, "URL-safe"),
    ]:
        with pytest.raises(GraphError, match=words):
            fics._call("POST", "v1.0", "", body, "raw create")
    flexible = {"name": "bad-expression", "issuer": sandbox.issuer, "audiences": ["a"]}
    with pytest.raises(GraphError, match="Invalid claimsMatchingExpression"):
        fics._call(
            "POST",
            "beta",
            "",
            {**flexible, "claimsMatchingExpression": {"value": "sub == 'x'", "languageVersion": 1}},
            "raw",
        )
    with pytest.raises(GraphError, match="does not exist on type"):  # flexible FICs are beta-only
        fics._call(
            "POST",
            "v1.0",
            "",
            {**flexible, "claimsMatchingExpression": {"value": "claims['sub'] eq 'x'", "languageVersion": 1}},
            "raw",
        )
    with pytest.raises(GraphError, match="read-only"):
        fics._call("PATCH", "v1.0", "/first", {"name": "renamed"}, "raw rename")
    assert application in repr(fics)


@pytest.mark.parametrize(
    ("fic", "rule"),
    [
        (dict(name="a", issuer="https://i", subject="s"), "URL-safe"),
        (dict(name="ok-name", issuer="http://i.example", subject="s"), "https URL"),
        (
            dict(name="ok-name", issuer="https://i.example", subject="s", audiences=["a", "b"]),
            "exactly one audience",
        ),
        (dict(name="ok-name", issuer="https://i.example", subject="s" * 601), "at most 600"),
        (dict(name="ok-name", issuer="https://i.example"), "mutually exclusive"),
        (
            dict(
                name="ok-name",
                issuer="https://i.example",
                subject="s",
                claims_matching_expression="claims['sub'] eq 's'",
            ),
            "mutually exclusive",
        ),
        (
            dict(name="ok-name", issuer="https://i.example", claims_matching_expression="sub == 's'"),
            "expected claims",
        ),
    ],
)
def test_the_client_names_the_rule_before_any_request(
    sandbox: Sandbox, make_fics: Callable[..., FederatedIdentityCredentials], fic: Any, rule: str
) -> None:
    fics = make_fics()
    with pytest.raises(ValueError, match=rule):
        fics.create(FederatedIdentityCredential(**fic))
    assert sandbox.request_count("graph") == 0


def test_graph_authorizes_by_app_role(
    sandbox: Sandbox, target: Any, make_fics: Callable[..., FederatedIdentityCredentials]
) -> None:
    with pytest.raises(GraphError) as nothing:
        make_fics(roles=()).list()
    assert (nothing.value.status_code, nothing.value.code) == (403, "Authorization_RequestDenied")
    reader = make_fics(roles=("Application.Read.All",))
    assert reader.list() == []
    with pytest.raises(GraphError, match="Insufficient privileges"):
        reader.create(FederatedIdentityCredential(name="nope", issuer=sandbox.issuer, subject="x"))
    with pytest.raises(GraphError, match="Insufficient privileges"):  # OwnedBy: only its own app
        make_fics(roles=("Application.ReadWrite.OwnedBy",)).create(
            FederatedIdentityCredential(name="nope", issuer=sandbox.issuer, subject="x")
        )


def test_graph_throttling_is_retried(
    sandbox: Sandbox, make_fics: Callable[..., FederatedIdentityCredentials]
) -> None:
    fics = make_fics()
    fics.list()  # the Graph token is cached now
    sandbox.fail_next(1, status=429, retry_after=1, endpoint="graph")
    assert fics.list() == []
    assert sandbox.request_count("graph") == 3


def test_flexible_fics_match_by_expression(
    sandbox: Sandbox, target: Any, make_fics: Callable[..., FederatedIdentityCredentials]
) -> None:
    fics = make_fics()
    fics.create(
        FederatedIdentityCredential(
            name="jobs",
            issuer=sandbox.issuer,
            claims_matching_expression="claims['sub'] matches 'batch:job-??:*'",
        )
    )
    assert fics.get("jobs").claims_matching_expression == "claims['sub'] matches 'batch:job-??:*'"
    with workload(sandbox, target, "batch:job-07:nightly") as matching:
        assert sandbox.verify_access_token(matching.get_token(STORAGE).token)
    for subject in ("batch:job-7:nightly", "BATCH:job-07:x", "batch:job-07"):
        with workload(sandbox, target, subject) as other, pytest.raises(TokenExchangeError) as refused:
            other.get_token(STORAGE)
        assert 700213 in refused.value.error_codes, subject


def test_github_flexible_fics_must_pin_the_repository(
    sandbox: Sandbox,
    target: Any,
    make_fics: Callable[..., FederatedIdentityCredentials],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fics = make_fics()
    loose = "claims['sub'] matches 'repo:contoso/*'"
    with pytest.raises(GraphError, match="repository_id"):
        fics.create(
            FederatedIdentityCredential(
                name="loose", issuer=sandbox.github_issuer, claims_matching_expression=loose
            )
        )
    job = sandbox.github_actions_env(repository="contoso/api", ref="refs/heads/release/2.1")
    for name, value in job.items():
        monkeypatch.setenv(name, value)
    from azure_wif_credential.assertions import GitHubActionsAssertion

    source = GitHubActionsAssertion(connection_verify=sandbox.ca_file)
    import jwt

    owner_id = jwt.decode(source(), options={"verify_signature": False})["repository_owner_id"]
    pinned = f"{loose} and claims['repository_owner_id'] eq '{owner_id}'"
    fics.create(
        FederatedIdentityCredential(
            name="pinned", issuer=sandbox.github_issuer, claims_matching_expression=pinned
        )
    )
    with workload(sandbox, target, "", issuer=source) as credential:
        assert sandbox.verify_access_token(credential.get_token(STORAGE).token)
    with pytest.raises(GraphError, match="not supported for issuer"):
        fics.create(
            FederatedIdentityCredential(
                name="elsewhere", issuer="https://issuer.example", claims_matching_expression=pinned
            )
        )


@pytest.mark.parametrize(
    ("expression", "claims", "expected"),
    [
        ("claims['sub'] eq 'a'", {"sub": "a"}, True),
        ("claims['sub'] eq 'a'", {"sub": "A"}, False),
        ("claims['sub'] matches 'a*'", {"sub": "abc"}, True),
        ("claims['sub'] matches 'a?c'", {"sub": "abc"}, True),
        ("claims['sub'] matches 'a?c'", {"sub": "abbc"}, False),
        ("claims['sub'] matches 'a.c'", {"sub": "abc"}, False),
        ("claims['sub'] eq 'it\\'s'", {"sub": "it's"}, True),
        ("claims['sub'] eq 'a' and claims['env'] eq 'prod'", {"sub": "a", "env": "prod"}, True),
        ("claims['sub'] eq 'a' and claims['env'] eq 'prod'", {"sub": "a", "env": "dev"}, False),
        ("claims['missing'] matches '*'", {"sub": "a"}, False),
        ("claims['n'] eq '1'", {"n": 1}, False),
    ],
)
def test_the_expression_language(expression: str, claims: Any, expected: bool) -> None:
    assert parse(expression).matches(claims) is expected


@pytest.mark.parametrize(
    "broken",
    [
        "",
        "claims['sub']",
        "claims['sub'] is 'a'",
        "claims['sub'] eq a",
        "claims['sub'] eq 'a",
        "claims['sub'] eq 'a' or claims['x'] eq 'b'",
        "claims[sub] eq 'a'",
        "claims['sub'] eq 'a' and",
    ],
)
def test_malformed_expressions_are_refused(broken: str) -> None:
    with pytest.raises(ExpressionError):
        parse(broken)


def test_subjects_and_clouds() -> None:
    assert github_subject("Contoso/App", branch="main") == "repo:Contoso/App:ref:refs/heads/main"
    assert github_subject("contoso/app", environment="prod") == "repo:contoso/app:environment:prod"
    assert github_subject("contoso/app", tag="v1") == "repo:contoso/app:ref:refs/tags/v1"
    assert github_subject("contoso/app", pull_request=True) == "repo:contoso/app:pull_request"
    with pytest.raises(ValueError, match="exactly one"):
        github_subject("contoso/app", branch="main", tag="v1")
    assert kubernetes_subject("prod", "web") == "system:serviceaccount:prod:web"
    with pytest.raises(ValueError, match="namespace"):
        kubernetes_subject("Prod", "web")
    assert GITHUB_ISSUER == "https://token.actions.githubusercontent.com"
    assert graph_endpoint_for("https://login.microsoftonline.us") == "https://graph.microsoft.us"
    assert graph_endpoint_for("login.chinacloudapi.cn") == "https://microsoftgraph.chinacloudapi.cn"
    assert graph_endpoint_for(None) == "https://graph.microsoft.com"
    with pytest.raises(ValueError, match="graph_endpoint="):
        graph_endpoint_for("https://127.0.0.1:8443")


def test_warnings_for_the_mistakes_users_make(
    sandbox: Sandbox, make_fics: Callable[..., FederatedIdentityCredentials]
) -> None:
    fics = make_fics()
    with pytest.warns(TrustWarning, match="discovery document says"):
        fics.create(FederatedIdentityCredential(name="slash", issuer=sandbox.issuer + "/", subject="x"))
    with pytest.warns(TrustWarning, match="lower case"):
        fics.create(
            FederatedIdentityCredential(
                name="case", issuer=GITHUB_ISSUER, subject="Repo:contoso/app:Ref:refs/heads/main"
            )
        )
    with pytest.warns(TrustWarning, match="internal API address"):
        fics.create(
            FederatedIdentityCredential(
                name="k8s",
                issuer="https://kubernetes.default.svc.cluster.local",
                subject=kubernetes_subject("prod", "web"),
            )
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fics.create(FederatedIdentityCredential(name="fine", issuer=sandbox.issuer, subject="fine"))


def test_a_graph_error_that_echoes_the_bearer_token_does_not_show_it(
    sandbox: Sandbox, make_fics: Callable[..., FederatedIdentityCredentials]
) -> None:
    fics = make_fics()
    fics.list()
    sandbox.answer_next(
        1,
        status=400,
        body='{"error": {"code": "Echo", "message": "you sent {authorization}"}}',
        endpoint="graph",
    )
    with pytest.raises(GraphError) as raised:
        fics.list()
    sent = sandbox.recorded("graph")[-1]
    assert raised.value.code == "Echo" and "you sent" in str(raised.value)
    assert "eyJ" not in str(raised.value) and "Bearer" not in raised.value.graph_message
    assert sent.headers.get("authorization") == "<redacted>", "the sandbox records no secret either"
