"""Packages import in one direction: `cds.rules` uses `cds.cards`, `cds.cards` never imports `cds.rules`.

Fact-path resolution, which both need, lives in `cds.factpaths`. Either package
imports first in a fresh interpreter (no import-order workaround needed).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

CARDS = Path(__file__).resolve().parents[2] / "src" / "cds" / "cards"


@pytest.mark.parametrize("module", ["cds.cards", "cds.rules", "cds.evaluation"])
def test_each_package_imports_first_in_a_fresh_interpreter(module: str) -> None:
    result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_cards_does_not_load_rules_when_imported() -> None:
    code = "import sys, cds.cards; print(any(m == 'cds.rules' or m.startswith('cds.rules.') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr


def _runtime_imports(tree: ast.Module) -> list[str]:
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue  # imports for type hints only
        for sub in ast.walk(node):
            if isinstance(sub, ast.ImportFrom) and sub.module:
                names.append(sub.module)
            elif isinstance(sub, ast.Import):
                names += [alias.name for alias in sub.names]
    return names


@pytest.mark.parametrize("path", sorted(CARDS.glob("*.py")), ids=lambda p: p.name)
def test_no_cards_module_imports_rules_at_run_time(path: Path) -> None:
    imports = _runtime_imports(ast.parse(path.read_text(encoding="utf-8")))
    assert [m for m in imports if m == "cds.rules" or m.startswith("cds.rules.")] == []
