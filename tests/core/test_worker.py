"""A real Celery worker process consumes tasks through the real (filesystem) broker."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.conf import settings

from opsdash.celery import app
from opsdash.telemetry.models import Heartbeat
from opsdash.telemetry.tasks import heartbeat


def wait_for(predicate, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.worker
def test_it_runs_a_task_in_a_real_worker_process(celery_worker_process):
    celery_worker_process()
    # The worker announces itself with a heartbeat at start; clear it to see the task's own.
    Heartbeat.objects.all().delete()
    heartbeat.delay()
    assert wait_for(lambda: Heartbeat.objects.filter(name="worker").exists()), "the worker never ran the task"
    # The broker folder is empty again: the message was consumed and acknowledged.
    queue = Path(app.conf.broker_transport_options["data_folder_in"])
    assert queue != Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", "")), "a private folder"
    assert wait_for(lambda: not any(queue.glob("*.msg")), 10)
