"""README's "Next steps" block, run exactly as written: a shell that starts the sandbox, sources its
exports, gets a token, lists, breaks and (after doctor explains) mends the trust, then gets a token
again. Offline; no `az`; bounded."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def next_steps_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Next steps") :]
    found = re.search(r"```bash\n(.*?)```", section, re.S)
    assert found, "README's Next steps has a bash block"
    return found.group(1)


@pytest.mark.skipif(sys.platform == "win32", reason="the block is bash")
def test_readme_next_steps_run_as_written(tmp_path: Path) -> None:
    (tmp_path / ".venv").symlink_to(sys.prefix)  # the block activates ./.venv: this interpreter's venv
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AZURE_", "GITHUB_", "ACTIONS_", "SYSTEM_", "VIRTUAL_ENV"))
    }
    env["HOME"] = str(tmp_path)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if "/.venv" not in p)
    process = subprocess.Popen(
        ["bash", "-e", "-c", next_steps_block()],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    text = output.decode("utf-8", "replace")
    assert process.returncode == 0, text
    assert text.count("expires_on:") == 2, "a token before breaking the trust and after mending it"
    assert "fic-1:" in text and "deleted fic-1" in text
    assert "AADSTS700211" in text, "doctor shows what Entra said"
    assert "the app has no FICs" in text and "fix: create a FIC for exactly what the token presents" in text
    assert "created kubernetes-default-web" in text
    assert "Traceback" not in text and "eyJ" not in text
