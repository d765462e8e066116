"""Periodic data-plane work: fold new events into the rollups, keep partitions ahead,
enforce retention; and the worker heartbeat that /metrics reads."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.utils import timezone

from opsdash.telemetry import partitions, rollups
from opsdash.telemetry.models import HEARTBEAT_KEY, Heartbeat

log = logging.getLogger(__name__)


# The task keeps the name it had when it lived in opsdash.health: beat schedules and
# messages already queued refer to it by that name.
@shared_task(name="opsdash.health.heartbeat", ignore_result=True)
def heartbeat() -> str:
    Heartbeat.objects.update_or_create(name=HEARTBEAT_KEY, defaults={"seen_at": timezone.now()})
    return "ok"


@worker_ready.connect
def _announce_worker(sender, **kwargs):  # type: ignore[no-untyped-def]
    # A heartbeat at start-up, so /metrics shows a live worker without waiting for beat.
    # The worker imports every app's tasks module before it reports ready, so this
    # receiver is connected in time, and the Celery app needs no import of its own.
    heartbeat.apply()


@shared_task(name="opsdash.telemetry.refresh_rollups", ignore_result=True)
def refresh_rollups() -> int:
    return rollups.refresh_rollups()


@shared_task(name="opsdash.telemetry.maintain_storage", ignore_result=True)
def maintain_storage() -> dict[str, object]:
    """Create today's and the next 7 days' partitions; drop what is past retention."""
    created = partitions.create_ahead()
    dropped = partitions.drop_expired()
    pruned = rollups.prune()
    if created or dropped:
        log.info("event partitions: %d created, dropped %s", created, ", ".join(dropped) or "none")
    return {"created": created, "dropped": dropped, "pruned": pruned}
