"""The embedded broker: one Redis per data folder, started once, reused, stopped on request;
the restart loop `make demo` runs the worker under; the exit of `make demo`, which stops
nothing that another client still uses."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kombu import Connection

from opsdash.lib import embedded_broker

ROOT = Path(__file__).resolve().parents[2]
KEEP_RUNNING = ROOT / "scripts" / "keep_running.py"
EMBEDDED_SERVICES = ROOT / "scripts" / "embedded_services.py"


@pytest.fixture
def broker_dir(tmp_path):
    yield tmp_path
    embedded_broker.stop(tmp_path)


def connect(data_dir: Path) -> Connection:
    return Connection(embedded_broker.url(data_dir), transport_options=embedded_broker.transport_options(data_dir))


def test_the_first_connection_starts_one_server_per_data_folder(broker_dir):
    url = embedded_broker.url(broker_dir)
    assert url == f"opsdash-redis+socket://{broker_dir.resolve() / 'broker' / 'redis.sock'}"
    assert not embedded_broker.is_running(broker_dir), "a URL starts nothing"
    with connect(broker_dir) as connection:
        connection.ensure_connection(max_retries=1)
        pid = (broker_dir / "broker" / "redis.pid").read_text()
    with connect(broker_dir) as connection:
        connection.ensure_connection(max_retries=1)
        assert (broker_dir / "broker" / "redis.pid").read_text() == pid, "the running server is reused"
        queue = connection.SimpleQueue("probe")
        queue.put({"n": 1})
        assert queue.get(timeout=5).payload == {"n": 1}
        assert embedded_broker.client_count(broker_dir) >= 1
        queue.close()
    assert embedded_broker.stop(broker_dir)
    assert not embedded_broker.is_running(broker_dir)
    assert not embedded_broker.stop(broker_dir)


def test_messages_survive_a_restart(broker_dir):
    with connect(broker_dir) as connection:
        connection.SimpleQueue("kept").put({"n": 2})
    assert embedded_broker.stop(broker_dir)
    with connect(broker_dir) as connection:
        queue = connection.SimpleQueue("kept")
        assert queue.get(timeout=5).payload == {"n": 2}
        queue.close()


def test_a_long_data_folder_gets_a_short_socket(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    try:
        path = embedded_broker.ensure_server(deep)
        assert len(str(path)) <= 100
        assert embedded_broker.is_running(deep)
    finally:
        embedded_broker.stop(deep)


def run_keep_running(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(KEEP_RUNNING), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_keep_running_restarts_a_command_that_dies_and_says_so():
    result = run_keep_running("--name", "w", "--max-restarts", "2", "--", sys.executable, "-c", "raise SystemExit(3)")
    assert result.returncode == 3
    lines = result.stderr.splitlines()
    assert re.fullmatch(r"keep_running\[w\]: exited with status 3 after \d+ s; restart 1 in 1 s", lines[0])
    assert re.fullmatch(r"keep_running\[w\]: exited with status 3 after \d+ s; restart 2 in 2 s", lines[1])
    assert "gave up after 2 restarts" in lines[2]


def test_keep_running_stops_with_its_command_on_sigterm(tmp_path):
    started = tmp_path / "started"
    code = f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\ntime.sleep(60)"
    process = subprocess.Popen(
        [sys.executable, str(KEEP_RUNNING), "--name", "w", "--", sys.executable, "-c", code],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 128 + signal.SIGTERM
    assert "restart" not in process.stderr.read()


def test_settings_start_no_server_until_a_task_is_sent(tmp_path):
    env = {**os.environ, "OPSDASH_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "opsdash.settings"}
    env.pop("CELERY_BROKER_URL", None)
    code = "import django; django.setup(); from django.conf import settings; print(settings.CELERY_BROKER_URL)"
    try:
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
        )
        assert result.stdout.startswith("opsdash-redis+socket://")
        assert not (tmp_path / "broker" / "redis.pid").exists()
    finally:
        embedded_broker.stop(tmp_path)


def test_the_demo_exit_leaves_a_broker_that_another_client_uses(broker_dir):
    embedded_broker.ensure_server(broker_dir)
    url = embedded_broker.url(broker_dir)
    env = {**os.environ, "OPSDASH_DATA_DIR": str(broker_dir)}
    status = subprocess.run(
        [sys.executable, str(EMBEDDED_SERVICES), "status"], env=env, capture_output=True, text=True, check=True
    )
    assert "broker=running" in status.stdout
    with Connection(url) as connection:
        connection.default_channel.client.ping()
        result = subprocess.run(
            [sys.executable, str(EMBEDDED_SERVICES), "stop-unused", "--broker"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert "the embedded broker stays up" in result.stdout
        assert embedded_broker.is_running(broker_dir)
    subprocess.run([sys.executable, str(EMBEDDED_SERVICES), "stop-unused", "--broker"], env=env, check=True, timeout=60)
    assert not embedded_broker.is_running(broker_dir)
