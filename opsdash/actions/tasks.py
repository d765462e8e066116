from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from opsdash.actions import runner

log = logging.getLogger(__name__)
MAX_RETRIES = 5


@shared_task(
    bind=True,
    name="opsdash.actions.run_action",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_RETRIES,
    soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.CELERY_TASK_TIME_LIMIT,
)
def run_action(self, run_id: int) -> str:  # type: ignore[no-untyped-def]
    """Carry out one ActionRun. Safe to deliver any number of times."""
    try:
        outcome = runner.execute(run_id)
    except runner.Busy as busy:
        if self.request.retries >= self.max_retries:
            # The other worker is alive and will finish the run.
            return "busy"
        raise self.retry(countdown=busy.retry_in) from None
    except OperationalError as exc:
        if self.request.retries >= self.max_retries:
            runner.give_up(run_id, f"the database stayed unavailable after {MAX_RETRIES} retries: {exc}")
            raise
        # Exponential backoff: 2, 4, 8, 16, 32 s (the run resumes from its checkpoint).
        raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from exc
    if outcome == "continued":
        # A long run hit its soft time limit and gave its lease back: a fresh task
        # resumes it from the checkpoint.
        run_action.delay(run_id)
    return outcome


@shared_task(name="opsdash.actions.resume_stalled", acks_late=True, soft_time_limit=60, time_limit=90)
def resume_stalled() -> int:
    """Send runs whose message was lost (or whose worker died) to a worker again."""
    ids = runner.stalled_run_ids()
    for run_id in ids:
        log.info("re-sending stalled action run %s", run_id)
        run_action.delay(run_id)
    return len(ids)
