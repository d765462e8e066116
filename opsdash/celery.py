"""The Celery application. Configuration comes from Django settings (CELERY_*).

It imports no opsdash module: the tasks are found in each app's tasks.py, and the
start-up heartbeat is a worker_ready receiver in opsdash.telemetry.tasks."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsdash.settings")

app = Celery("opsdash")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
