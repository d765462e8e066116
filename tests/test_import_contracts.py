"""The import contracts in .importlinter hold on the tree, and break on a bad import.

lint-imports reads the source without importing it, so a copy of the package with one
line added is enough to show that a back-arrow or a cycle would fail `make lint`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(cwd / ".importlinter")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "opsdash", tmp_path / "opsdash", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def add_import(tree: Path, module: str, line: str) -> None:
    path = tree / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")


def test_the_tree_keeps_every_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_copy_keeps_every_contract_before_it_is_changed(tree_copy):
    result = lint_imports(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        # A domain app reaching up into the pages.
        ("opsdash.telemetry.selectors", "from opsdash.web import dashboards", "Layers"),
        # A domain app reaching up into a workflow.
        ("opsdash.tenants.selectors", "from opsdash.actions import selectors", "Layers"),
        # The trail asking who may read it: that is accounts' to say (audit_reader).
        ("opsdash.audit.selectors", "from opsdash.accounts import access", "Layers"),
        # Tenants reaching up into accounts, which scopes users by tenant.
        ("opsdash.tenants.services", "from opsdash.accounts import tokens", "Layers"),
        # Siblings of an independent layer.
        ("opsdash.safety.selectors", "from opsdash.evals import selectors", "Layers"),
        # The Celery app importing the health module again.
        ("opsdash.celery", "from opsdash import health", "The Celery app"),
        # A page writing events itself.
        ("opsdash.web.views", "from opsdash.telemetry import services", "Pages never write"),
        # The runner importing the tasks that import it.
        ("opsdash.actions.runner", "from opsdash.actions import tasks", "No cycles"),
    ],
)
def test_a_bad_import_breaks_a_contract(tree_copy, module, line, contract):
    add_import(tree_copy, module, line)
    result = lint_imports(tree_copy)
    assert result.returncode != 0, result.stdout
    broken = [row for row in result.stdout.splitlines() if row.endswith("BROKEN")]
    assert any(row.startswith(contract) for row in broken), result.stdout
