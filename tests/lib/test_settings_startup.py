"""Start-up failures a person meets print one sentence (exit 2), never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPSDASH_", "DATABASE_URL", "CELERY_"))}
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=60
    )


def assert_one_sentence(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_it_requires_a_secret_key_in_production(tmp_path):
    result = run_manage("check", OPSDASH_DATA_DIR=str(tmp_path), DATABASE_URL="postgres://u@127.0.0.1:1/x")
    assert_one_sentence(result, "OPSDASH_SECRET_KEY is required when OPSDASH_DEBUG is off")


def test_it_refuses_a_short_secret_key(tmp_path):
    result = run_manage(
        "check", OPSDASH_SECRET_KEY="short", OPSDASH_DATA_DIR=str(tmp_path), DATABASE_URL="postgres://u@h/x"
    )
    assert_one_sentence(result, "shorter than 32 characters")


def test_it_requires_an_audit_key_in_production(tmp_path):
    result = run_manage(
        "check", OPSDASH_SECRET_KEY="k" * 40, OPSDASH_DATA_DIR=str(tmp_path), DATABASE_URL="postgres://u@h/x"
    )
    assert_one_sentence(result, "OPSDASH_AUDIT_KEY is required when OPSDASH_DEBUG is off")


def test_it_refuses_a_short_audit_key(tmp_path):
    result = run_manage(
        "check",
        OPSDASH_SECRET_KEY="k" * 40,
        OPSDASH_AUDIT_KEY="short",
        OPSDASH_DATA_DIR=str(tmp_path),
        DATABASE_URL="postgres://u@h/x",
    )
    assert_one_sentence(result, "OPSDASH_AUDIT_KEY is shorter than 32 characters")


def test_it_generates_an_audit_key_for_development(tmp_path):
    result = run_manage("check", OPSDASH_DEBUG="1", OPSDASH_DATA_DIR=str(tmp_path), DATABASE_URL="postgres://u@h/x")
    assert result.returncode == 0, result.stderr
    key = (tmp_path / "audit_key").read_text()
    assert len(key) >= 32
    assert oct((tmp_path / "audit_key").stat().st_mode & 0o777) == "0o600"


def test_it_refuses_sqlite(tmp_path):
    result = run_manage("check", OPSDASH_DEBUG="1", OPSDASH_DATA_DIR=str(tmp_path), DATABASE_URL="sqlite:///x.db")
    assert_one_sentence(result, "opsdash runs on Postgres only")


def test_it_refuses_a_bad_boolean(tmp_path):
    result = run_manage("check", OPSDASH_DEBUG="perhaps", OPSDASH_DATA_DIR=str(tmp_path))
    assert_one_sentence(result, "OPSDASH_DEBUG='perhaps' is not a boolean")


def test_it_explains_an_unreachable_database(tmp_path):
    result = run_manage(
        "migrate",
        OPSDASH_DEBUG="1",
        OPSDASH_DATA_DIR=str(tmp_path),
        DATABASE_URL="postgres://opsdash@127.0.0.1:1/opsdash",
    )
    assert_one_sentence(result, "cannot reach the database 'opsdash' on 127.0.0.1:1")
    assert "check DATABASE_URL" in result.stderr


def test_it_explains_an_unreachable_broker(tmp_path):
    url = "postgresql://postgres@/{name}?host={host}".format(
        name=settings.DATABASES["default"]["NAME"], host=settings.DATABASES["default"]["HOST"]
    )
    if not settings.DATABASES["default"]["HOST"].startswith("/"):
        pytest.skip("needs the embedded socket database")
    result = run_manage(
        "preflight",
        OPSDASH_DEBUG="1",
        OPSDASH_DATA_DIR=str(tmp_path),
        DATABASE_URL=url,
        CELERY_BROKER_URL="redis://:hunter2@127.0.0.1:1/0",
    )
    assert result.returncode != 0
    assert "cannot reach the Celery broker at redis://127.0.0.1:1/0" in result.stderr
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


def test_it_explains_a_port_in_use(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        from opsdash.lib.startup import port_in_use_message

        message = port_in_use_message("127.0.0.1", port)
    assert message is not None
    assert f"port {port} on 127.0.0.1 is already in use" in message
    assert f"make demo PORT={port + 1}" in message


def test_production_defaults_are_safe():
    # The test run has OPSDASH_DEBUG=0 like production (HTTPS is off only for the live test server).
    assert settings.DEBUG is False
    assert settings.SESSION_COOKIE_HTTPONLY is True
    assert settings.X_FRAME_OPTIONS == "DENY"
