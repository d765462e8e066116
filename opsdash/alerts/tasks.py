from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from opsdash.alerts import evaluation

log = logging.getLogger(__name__)
MAX_RETRIES = 2


@shared_task(
    bind=True,
    name="opsdash.alerts.evaluate",
    acks_late=True,
    max_retries=MAX_RETRIES,
    # Beat sends one a minute (and lets it expire after 55 s): a run never outlasts the next.
    soft_time_limit=45,
    time_limit=55,
)
def evaluate(self) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Bring the alerts in line with budgets, SLOs and evals. Idempotent: a redelivered or
    overlapping run changes nothing twice (a second concurrent one skips)."""
    try:
        report = evaluation.evaluate()
    except OperationalError as exc:
        if self.request.retries >= self.max_retries:
            raise
        raise self.retry(exc=exc, countdown=5 * 2**self.request.retries) from exc
    if report is None:
        return {"skipped": "another evaluation is running"}
    if report.failed:
        log.warning("alert evaluation finished without: %s", ", ".join(report.failed))
    return report.as_dict()
