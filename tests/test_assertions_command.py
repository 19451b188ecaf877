"""CommandAssertion: a token printed by a program (buildkite-agent, spire-agent, ...), no shell."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError

from azure_wif_credential.assertions import CommandAssertion

# Token-shaped, so the redaction of messages is tested against something realistic.
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJlLWJ5dGVz"


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers signal 0; it is dead all the same.
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(")")[-1].split()[0] == "Z")


def test_plain_stdout_is_the_token_stripped() -> None:
    assert CommandAssertion(python(f"print('  {TOKEN}  ')"))() == TOKEN


def test_program_runs_at_every_call(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    source = CommandAssertion(
        python(f"""
        from pathlib import Path
        p = Path({str(counter)!r})
        n = int(p.read_text()) + 1 if p.exists() else 1
        p.write_text(str(n))
        print(f"token-{{n}}")
        """)
    )
    assert [source(), source(), source()] == ["token-1", "token-2", "token-3"]


def test_json_field_selects_the_token() -> None:
    output = json.dumps({"token": TOKEN, "expires_in": 300})
    assert CommandAssertion(python(f"print({output!r})"), json_field="token")() == TOKEN


def test_json_field_is_a_dotted_path_through_objects_and_lists() -> None:
    # The shape of `spire-agent api fetch jwt -output json`.
    output = json.dumps(
        [{"svids": [{"spiffe_id": "spiffe://example.org/web", "svid": TOKEN}]}, {"bundles": {}}]
    )
    source = CommandAssertion(python(f"print({output!r})"), json_field="0.svids.0.svid")
    assert source() == TOKEN


def test_no_shell_interprets_the_arguments() -> None:
    literal = "$HOME; echo injected | cat"
    program = [*python("import json, sys; print(json.dumps({'arg': sys.argv[1]}))"), literal]
    assert CommandAssertion(program, json_field="arg")() == literal


def test_a_command_line_string_is_refused_with_the_list_to_use() -> None:
    with pytest.raises(TypeError, match=r"\['buildkite-agent', 'oidc', 'request-token'\]"):
        CommandAssertion("buildkite-agent oidc request-token")


def test_non_zero_exit_reports_status_and_stderr_excerpt_without_tokens() -> None:
    program = python(f"""
        import sys
        print({TOKEN!r})
        print("debug: presenting {TOKEN}", file=sys.stderr)
        print("error: agent is not connected to the job", file=sys.stderr)
        sys.exit(3)
        """)
    with pytest.raises(ClientAuthenticationError) as caught:
        CommandAssertion(program)()
    message = caught.value.message
    assert "exited with status 3" in message
    assert "error: agent is not connected to the job" in message
    assert TOKEN not in message
    assert "<redacted>" in message


def test_long_stderr_keeps_its_end_where_the_reason_is() -> None:
    program = python("""
        import sys
        print("noise " * 500, file=sys.stderr)
        print("fatal: audience not allowed", file=sys.stderr)
        sys.exit(1)
        """)
    with pytest.raises(ClientAuthenticationError, match="fatal: audience not allowed"):
        CommandAssertion(program)()


def test_hanging_command_is_killed_at_the_timeout_with_what_it_started(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    program = python(f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        with open({str(pids)!r}, "w") as f:
            f.write(f"{{child.pid}}")
        time.sleep(120)
        """)
    source = CommandAssertion(program, timeout=1.0)
    with pytest.raises(ClientAuthenticationError, match=r"did not finish within 1 s and was killed"):
        source()
    grandchild = int(pids.read_text())
    for _ in range(100):  # SIGKILL is asynchronous; init reaps the orphan
        if not is_running(grandchild):
            break
        time.sleep(0.05)
    assert not is_running(grandchild)


def test_program_killed_by_a_signal_is_reported() -> None:
    program = python("import os, signal; os.kill(os.getpid(), signal.SIGTERM)")
    with pytest.raises(ClientAuthenticationError, match="killed by signal 15"):
        CommandAssertion(program)()


def test_missing_program_is_unavailable() -> None:
    with pytest.raises(CredentialUnavailableError, match="wif-no-such-agent: not found"):
        CommandAssertion(["wif-no-such-agent", "oidc", "request-token"])()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("pass", "printed nothing on stdout"),
        ("print('warning: slow agent'); print('tok')", "printed 4 words on stdout"),
    ],
)
def test_stdout_that_is_not_one_token_is_an_error(code: str, expected: str) -> None:
    with pytest.raises(ClientAuthenticationError, match=expected):
        CommandAssertion(python(code))()


def test_non_json_output_with_json_field_is_an_error_without_the_output_token() -> None:
    with pytest.raises(ClientAuthenticationError, match="output is not JSON") as caught:
        CommandAssertion(python(f"print('token: {TOKEN}')"), json_field="token")()
    assert TOKEN not in caught.value.message


def test_missing_json_field_is_named() -> None:
    output = json.dumps([{"svids": []}])
    with pytest.raises(ClientAuthenticationError, match=r"no field '0\.svids\.0'"):
        CommandAssertion(python(f"print({output!r})"), json_field="0.svids.0.svid")()


def test_repr_shows_configuration_and_never_a_token() -> None:
    source = CommandAssertion(["buildkite-agent", "oidc", "request-token"], timeout=5, json_field="token")
    assert repr(source) == (
        "CommandAssertion(['buildkite-agent', 'oidc', 'request-token'], timeout=5, json_field='token')"
    )
    assert TOKEN not in repr(CommandAssertion(["agent", "--token", TOKEN]))


@pytest.mark.parametrize("timeout", [0, -1])
def test_timeout_must_be_positive(timeout: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        CommandAssertion(["true"], timeout=timeout)
