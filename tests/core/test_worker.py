"""A real Celery worker process consumes tasks through the real (filesystem) broker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from kombu import Connection

from opsdash.health import heartbeat
from opsdash.telemetry.models import Heartbeat

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    if db["HOST"].startswith("/"):
        return f"postgresql://{auth}@/{db['NAME']}?host={db['HOST']}"
    return f"postgresql://{auth}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(tmp_path, transactional_db):
    """Start `celery worker` on a private broker folder and the test database."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "OPSDASH_DATA_DIR": str(tmp_path),
        "OPSDASH_SECRET_KEY": settings.SECRET_KEY,
    }
    env.pop("CELERY_BROKER_URL", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "opsdash",
            "worker",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    queue = tmp_path / "broker" / "queue"
    connection = Connection(
        "filesystem://",
        transport_options={
            "data_folder_in": str(queue),
            "data_folder_out": str(queue),
            "processed_folder": str(tmp_path / "broker" / "processed"),
            "control_folder": str(tmp_path / "broker" / "control"),
        },
    )
    try:
        yield connection
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        connection.release()


def wait_for(predicate, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.worker
def test_it_runs_a_task_in_a_real_worker_process(worker):
    assert not Heartbeat.objects.exists()
    (Path(worker.transport_options["data_folder_out"])).mkdir(parents=True, exist_ok=True)
    heartbeat.apply_async(connection=worker)
    assert wait_for(lambda: Heartbeat.objects.filter(name="worker").exists()), "the worker never ran the task"
    # The broker folder is empty again: the message was consumed and acknowledged.
    assert wait_for(lambda: not any(Path(worker.transport_options["data_folder_in"]).glob("*.msg")), 10)
