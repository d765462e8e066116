from __future__ import annotations

from celery import shared_task

from opsdash.audit import checkpoints, services


@shared_task(name="opsdash.audit.checkpoint", acks_late=True, soft_time_limit=60, time_limit=90)
def checkpoint() -> int:
    """Beat's signed checkpoint of the chain; returns the rows it covers."""
    return int(checkpoints.write()["rows"])


@shared_task(name="opsdash.audit.verify", acks_late=True, soft_time_limit=1800, time_limit=1860)
def verify() -> bool:
    """Beat's full check of the chain (every OPSDASH_AUDIT_VERIFY_SECONDS); the audit page
    shows its signed result. Returns whether the chain holds."""
    return services.verify_chain().broken is None
