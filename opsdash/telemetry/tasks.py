"""Periodic data-plane work: fold new events into the rollups, keep partitions ahead,
enforce retention."""

from __future__ import annotations

import logging

from celery import shared_task

log = logging.getLogger(__name__)


@shared_task(name="opsdash.telemetry.refresh_rollups", ignore_result=True)
def refresh_rollups() -> int:
    from opsdash.telemetry.rollups import refresh_rollups as fold

    return fold()


@shared_task(name="opsdash.telemetry.maintain_storage", ignore_result=True)
def maintain_storage() -> dict[str, object]:
    """Create today's and the next 7 days' partitions; drop what is past retention."""
    from opsdash.telemetry import partitions, rollups

    created = partitions.create_ahead()
    dropped = partitions.drop_expired()
    pruned = rollups.prune()
    if created or dropped:
        log.info("event partitions: %d created, dropped %s", created, ", ".join(dropped) or "none")
    return {"created": created, "dropped": dropped, "pruned": pruned}
