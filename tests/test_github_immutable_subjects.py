"""GitHub's immutable subjects (since 2026-06-18: repo:OWNER-OWNERID/REPO-REPOID:...), end to end: the
sandbox's jobs carry them, github_subject() builds them, the CLI creates them, and doctor recognises a
FIC by name against a token by ids (and the reverse) and gives the command that fixes it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List

import pytest
from helpers import claims_of, sandbox_fics

from azure_wif_credential import FederatedTokenCredential
from azure_wif_credential._cli import main
from azure_wif_credential.assertions import GitHubActionsAssertion
from azure_wif_credential.sandbox import Sandbox
from azure_wif_credential.trust import (
    FederatedIdentityCredential,
    github_subject,
)

STORAGE = "https://storage.azure.com/.default"
OWNER_ID, REPO_ID = 123456, 456789


def test_github_subject_builds_the_immutable_form_with_both_ids() -> None:
    assert (
        github_subject("octocat/my-repo", owner_id=OWNER_ID, repository_id=REPO_ID, branch="main")
        == "repo:octocat-123456/my-repo-456789:ref:refs/heads/main"
    )
    assert (
        github_subject("octocat/my-repo", owner_id=1, repository_id=2, environment="prod")
        == "repo:octocat-1/my-repo-2:environment:prod"
    )
    with pytest.raises(ValueError, match="both owner_id= and repository_id="):
        github_subject("octocat/my-repo", owner_id=OWNER_ID, branch="main")
    with pytest.raises(ValueError, match="both owner_id= and repository_id="):
        github_subject("octocat/my-repo", repository_id=REPO_ID, branch="main")
    with pytest.raises(ValueError, match="numeric id"):
        github_subject("octocat/my-repo", owner_id=-1, repository_id=REPO_ID, branch="main")


@pytest.mark.parametrize("immutable", [False, True], ids=["by name", "immutable"])
def test_every_github_token_carries_the_ids_and_check_run_id(sandbox: Sandbox, immutable: bool) -> None:
    env = sandbox.github_actions_env(
        repository="octocat/my-repo", owner_id=OWNER_ID, repository_id=REPO_ID, immutable_subject=immutable
    )
    source = GitHubActionsAssertion(environ=env, connection_verify=sandbox.ca_file)
    claims = claims_of(source())
    assert claims["repository_id"] == str(REPO_ID) and claims["repository_owner_id"] == str(OWNER_ID)
    assert claims["check_run_id"].isdigit()
    expected = "repo:octocat-123456/my-repo-456789:" if immutable else "repo:octocat/my-repo:"
    assert claims["sub"] == expected + "ref:refs/heads/main"


def test_a_fic_made_with_github_subject_ids_lets_an_immutable_job_get_a_token(sandbox: Sandbox) -> None:
    admin = sandbox.register_app(subject="admin", graph_roles=["Application.ReadWrite.All"])
    app = sandbox.register_app(subject=None, tenant_id=admin.tenant_id)
    with sandbox_fics(sandbox, admin, "admin", app.client_id) as fics:
        subject = github_subject("octocat/my-repo", owner_id=OWNER_ID, repository_id=REPO_ID, branch="main")
        fics.create(FederatedIdentityCredential(name="main", issuer=sandbox.github_issuer, subject=subject))
    env = sandbox.github_actions_env(
        repository="octocat/my-repo", owner_id=OWNER_ID, repository_id=REPO_ID, immutable_subject=True
    )
    source = GitHubActionsAssertion(environ=env, connection_verify=sandbox.ca_file)
    with FederatedTokenCredential(
        app.tenant_id,
        app.client_id,
        assertion=source,
        authority=sandbox.authority,
        connection_verify=sandbox.ca_file,
    ) as credential:
        assert sandbox.verify_access_token(credential.get_token(STORAGE).token)


@pytest.fixture
def admin_environment(sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dict[str, Any]:
    """A trust-managing identity (AZURE_WIF_GRAPH_*) and a workload app with no FIC yet."""
    admin = sandbox.register_app(subject="platform:admin", graph_roles=["Application.ReadWrite.All"])
    app = sandbox.register_app(subject=None, tenant_id=admin.tenant_id)
    admin_token = tmp_path / "admin-token"
    admin_token.write_text(sandbox.issue_assertion(subject="platform:admin"))
    for name in list(os.environ):
        if name.startswith(("AZURE_", "GITHUB_", "ACTIONS_")):
            monkeypatch.delenv(name)
    for name, value in {
        "AZURE_TENANT_ID": admin.tenant_id,
        "AZURE_CLIENT_ID": app.client_id,
        "AZURE_AUTHORITY_HOST": sandbox.authority,
        "AZURE_WIF_CA_FILE": sandbox.ca_file,
        "AZURE_WIF_GRAPH_ENDPOINT": sandbox.graph_endpoint,
        "AZURE_WIF_GRAPH_CLIENT_ID": admin.client_id,
        "AZURE_WIF_GRAPH_TOKEN_FILE": str(admin_token),
    }.items():
        monkeypatch.setenv(name, value)
    return {"app": app}


def cli(args: List[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_trust_create_github_with_ids_and_the_warning_without(
    sandbox: Sandbox, admin_environment: Dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    app = admin_environment["app"].client_id
    base = ["trust", "create", "github", "--app", app, "--repo", "octocat/my-repo", "--branch", "main"]
    code, out, err = cli(
        [*base, "--issuer", sandbox.github_issuer, "--owner-id", "123456", "--repo-id", "456789"], capsys
    )
    assert code == 0 and "repo:octocat-123456/my-repo-456789:ref:refs/heads/main" in out
    assert "warning" not in err
    code, out, err = cli([*base, "--issuer", sandbox.github_issuer, "--name", "by-name"], capsys)
    assert code == 0 and "repo:octocat/my-repo:ref:refs/heads/main" in out
    assert (
        "since 2026-06-18" in err
        and "--owner-id and --repo-id" in err
        and "gh api repos/octocat/my-repo" in err
    )
    code, out, err = cli([*base, "--owner-id", "123456"], capsys)
    assert code != 0 and "--owner-id and --repo-id go together" in err


@pytest.mark.parametrize("fic_form", ["by name", "immutable"])
def test_doctor_recognises_the_other_github_subject_form_and_gives_the_fix(
    fic_form: str,
    sandbox: Sandbox,
    admin_environment: Dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = admin_environment["app"].client_id
    token_immutable = fic_form == "by name"  # the token always has the other form
    env = sandbox.github_actions_env(
        repository="octocat/my-repo",
        owner_id=OWNER_ID,
        repository_id=REPO_ID,
        immutable_subject=token_immutable,
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    ids = [] if fic_form == "by name" else ["--owner-id", str(OWNER_ID), "--repo-id", str(REPO_ID)]
    create = ["trust", "create", "github", "--app", app, "--repo", "octocat/my-repo", "--branch", "main"]
    assert cli([*create, "--issuer", sandbox.github_issuer, "--name", "main", *ids], capsys)[0] == 0
    code, out, _ = cli(["doctor", "--json", "--scope", STORAGE], capsys)
    report = json.loads(out)
    assert code == 1
    checks = {c["name"]: c for c in report["checks"]}
    assert "AADSTS700213" in checks["exchange"]["detail"]
    comparison = checks["federated credentials"]
    assert "subject DIFFERS in form" in comparison["detail"]
    expected_ids = "--owner-id 123456 --repo-id 456789" if token_immutable else None
    fix = comparison["fix"]
    assert "azure-wif-credential trust create github" in fix and "--repo octocat/my-repo --" in fix
    assert "--branch main" in fix and f"--issuer {sandbox.github_issuer}" in fix
    assert (expected_ids in fix) if expected_ids else ("--owner-id" not in fix)
    # and the fix, run as printed, mends it
    import shlex

    command = shlex.split(fix[fix.index("azure-wif-credential trust create") :])
    assert cli(command[1:], capsys)[0] == 0
    code, out, _ = cli(["doctor", "--json", "--scope", STORAGE], capsys)
    assert code == 0, out
