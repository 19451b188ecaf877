"""ARCHITECTURE.md names every module of the package, and only modules that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_module_table_matches_the_tree() -> None:
    named = set(re.findall(r"`(azure_wif_credential/[\w/]+\.py)`", (ROOT / "ARCHITECTURE.md").read_text()))
    present = {p.relative_to(ROOT).as_posix() for p in (ROOT / "azure_wif_credential").rglob("*.py")}
    assert sorted(present - named) == [], "modules missing from ARCHITECTURE.md"
    assert sorted(named - present) == [], "ARCHITECTURE.md names modules that do not exist"
