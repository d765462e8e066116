"""The Celery application. Configuration comes from Django settings (CELERY_*)."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsdash.settings")

app = Celery("opsdash")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["opsdash"], related_name="health")


@worker_ready.connect
def _announce_worker(sender, **kwargs):  # type: ignore[no-untyped-def]
    # A heartbeat at start-up, so /metrics shows a live worker without waiting for beat.
    from opsdash.health import heartbeat

    heartbeat.apply()
