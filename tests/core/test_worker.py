"""A real Celery worker process consumes tasks through the real (embedded Redis) broker."""

from __future__ import annotations

import time

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
    # The queue is empty again: the message was consumed and acknowledged.
    assert app.conf.broker_url != settings.CELERY_BROKER_URL, "a private broker"
    with app.connection_for_read() as connection:
        redis = connection.default_channel.client
        assert wait_for(lambda: redis.llen("celery") == 0 and redis.hlen("unacked") == 0, 10)
