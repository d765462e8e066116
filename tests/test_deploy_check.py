"""The production environment in docs/deploy.md passes Django's deployment checks.

The test reads the environment from the document itself, so the two cannot drift apart.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

from tests.conftest import database_url_for_tests

ROOT = Path(__file__).resolve().parents[1]
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
MARKER = "<!-- production-environment -->"


def documented_environment() -> dict[str, str]:
    """NAME=value lines of the sh block after the marker; a value of ``...`` is a secret to generate."""
    text = DEPLOY_DOC.read_text()
    assert MARKER in text, f"{DEPLOY_DOC} lost its {MARKER} line"
    block = re.search(r"```sh\n(.*?)```", text.split(MARKER, 1)[1], re.DOTALL)
    assert block is not None, f"no sh block after {MARKER}"
    env = {}
    for line in block.group(1).splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f"not a NAME=value line: {line!r}"
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name), f"not a variable name: {name!r}"
        env[name] = value
    return env


def test_it_documents_the_keys_production_requires():
    env = documented_environment()
    assert env["OPSDASH_SECRET_KEY"] == "..."
    assert env["OPSDASH_AUDIT_KEY"] == "..."
    assert "OPSDASH_DEBUG" not in env or env["OPSDASH_DEBUG"] == "0"


def test_it_passes_the_deployment_checks_with_the_documented_environment(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSDASH_", "DATABASE_URL", "CELERY_"))}
    for name, value in documented_environment().items():
        env[name] = secrets.token_urlsafe(48) if value == "..." else value
    # The documented data directory and database live on the server; the checks write nothing
    # and open no connection, but stay on this machine should that ever change.
    env["OPSDASH_DATA_DIR"] = str(tmp_path)
    env["DATABASE_URL"] = database_url_for_tests()
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
