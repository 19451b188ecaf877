"""The samples run offline against the sandbox (`--sandbox`), print what they promise, and no token."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.")


def run_sample(relative: str) -> str:
    """Run a sample with --sandbox in a clean environment (no Azure or CI variables) and return stdout."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AZURE_", "ACTIONS_", "SYSTEM_", "GITHUB_", "AWS_", "GCE_", "IDENTITY_"))
    }
    completed = subprocess.run(
        [sys.executable, str(SAMPLES / relative), "--sandbox"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert not JWT_SHAPE.search(completed.stdout + completed.stderr), "a sample printed a token"
    return completed.stdout


def test_github_actions_sample_outlives_its_github_tokens() -> None:
    output = run_sample("github_actions/list_containers.py")
    assert "token for https://management.azure.com/.default: aud=https://management.azure.com" in output
    assert "token for https://storage.azure.com/.default: aud=https://storage.azure.com" in output
    assert "GitHub OIDC tokens requested: 2" in output
    if os.environ.get("CI") == "true" or "Azurite is not installed" not in output:
        assert "container: build-artifacts" in output, "the sample lists containers (on Azurite)"


def test_github_actions_workflow_grants_the_id_token_permission_and_runs_the_script() -> None:
    workflow = (SAMPLES / "github_actions" / "workflow.yml").read_text()
    assert re.search(r"^permissions:\n(  .*\n)*  id-token: write", workflow, re.MULTILINE)
    assert "python samples/github_actions/list_containers.py" in workflow


def test_kubernetes_sample_reads_the_rotated_token_file() -> None:
    output = run_sample("kubernetes/app.py")
    assert "token for https://storage.azure.com/.default: aud=https://storage.azure.com" in output
    assert "token for https://vault.azure.net/.default: aud=https://vault.azure.net" in output


def test_kubernetes_manifests_opt_the_pod_in_to_workload_identity() -> None:
    pod = (SAMPLES / "kubernetes" / "pod.yaml").read_text()
    account = (SAMPLES / "kubernetes" / "serviceaccount.yaml").read_text()
    assert 'azure.workload.identity/use: "true"' in pod
    assert "serviceAccountName: web" in pod
    assert "azure.workload.identity/client-id:" in account
    assert "name: web" in account


def test_chained_sample_answers_in_the_pod_and_steps_aside_on_a_laptop() -> None:
    output = run_sample("chained_credential/chained.py")
    assert "in the pod, the chain's first credential answers: aud=https://management.azure.com" in output
    assert "on a laptop, ours is unavailable and the chain moves on" in output


def test_async_sample_shares_one_exchange_per_scope() -> None:
    output = run_sample("async_credential/async_tokens.py")
    assert "20 concurrent get_token calls answered" in output
    assert "token requests: 2, GitHub OIDC tokens requested: 2" in output


def test_aws_sample_reaches_azure_with_the_roles_token() -> None:
    output = run_sample("aws/deploy.py")
    assert "the AWS token's subject: arn:aws:iam::123456789012:role/deploy" in output
    assert "token for https://management.azure.com/.default: aud=https://management.azure.com" in output


def test_gcp_sample_reaches_azure_with_the_service_accounts_token() -> None:
    output = run_sample("gcp/report.py")
    assert "the Google token's subject: service account" in output and ".iam.gserviceaccount.com" in output
    assert "token for https://graph.microsoft.com/.default: aud=https://graph.microsoft.com" in output


def test_trust_sample_establishes_github_and_kubernetes_trust_then_uses_it() -> None:
    output = run_sample("trust/setup_trust.py")
    assert "github-main: trusts repo:contoso/shop:ref:refs/heads/main" in output
    assert "aks-checkout: trusts system:serviceaccount:shop:checkout" in output
    assert "the GitHub job got a token for storage" in output
    assert "the checkout pod got a token for storage" in output
