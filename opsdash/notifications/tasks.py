from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError

from opsdash.notifications import delivery

log = logging.getLogger(__name__)
ERROR_RETRIES = 5
# A safety net only: a delivery's own attempts (OPSDASH_WEBHOOK_MAX_ATTEMPTS) and its lease
# end the chain of messages long before this.
MAX_RETRIES = 100


@shared_task(
    bind=True,
    name="opsdash.notifications.deliver",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_RETRIES,
    soft_time_limit=delivery.SOFT_TIME_LIMIT,
    time_limit=delivery.TIME_LIMIT,
)
def deliver(self, delivery_id: int) -> str:  # type: ignore[no-untyped-def]
    """Send one attempt of a Delivery and queue the next after a failure that may pass.
    Safe to deliver any number of times: it never sends while another attempt is in flight
    or after the delivery has arrived."""
    try:
        result = delivery.attempt(delivery_id)
    except (OperationalError, SoftTimeLimitExceeded) as exc:
        if self.request.retries >= ERROR_RETRIES:
            raise
        # A delivery left in flight is taken over once its lease ends, by this retry or
        # by the sweeper.
        raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from exc
    if result.retry_in is None:
        return result.state
    if result.busy and self.request.is_eager:
        # Run in-process (tests, eager mode), a retry would come back at once, not after the lease.
        return "busy"
    if self.request.retries >= self.max_retries:
        log.error("delivery %s: stopped re-queueing after %s messages", delivery_id, self.max_retries)
        return result.state
    raise self.retry(countdown=result.retry_in)


@shared_task(name="opsdash.notifications.resume_stalled", acks_late=True, soft_time_limit=60, time_limit=90)
def resume_stalled() -> int:
    """Send deliveries whose message was lost (or whose worker died) to a worker again;
    the claim makes a second message for the same delivery harmless."""
    ids = delivery.stalled_ids()
    for delivery_id in ids:
        log.info("re-sending stalled notification delivery %s", delivery_id)
        deliver.delay(delivery_id)
    return len(ids)
