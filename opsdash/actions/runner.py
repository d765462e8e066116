"""The worker's side of an action: claim the run, work in checkpointed batches, finish.

Exactly-once comes from three rules:
- a run is claimed with a conditional UPDATE (queued -> running, or a running run whose
  worker stopped checkpointing for ACTIONS_LEASE_SECONDS), which also bumps ``attempt``;
- every batch commits its work together with the new checkpoint and progress, and the
  checkpoint UPDATE only matches while the run is still running under the same attempt,
  so a cancelled run or a superseded worker rolls its batch back;
- each batch starts from the committed checkpoint, so a redelivered message resumes
  after the last committed batch and never repeats one.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from opsdash.actions import registry
from opsdash.actions.context import ActionFailed, Busy, RunContext, RunStopped, State, audit_run
from opsdash.actions.models import ActionRun

log = logging.getLogger(__name__)


def claim(run_id: int) -> int | None:
    """Take the run for this worker; returns the attempt number, or None when it is not ours to run."""
    # The application's clock, not the database's: the heartbeats this compares with are
    # written and read with it elsewhere (RunContext, stalled_run_ids); the two may disagree.
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE actions_actionrun
               SET state = 'running', attempt = attempt + 1, heartbeat_at = %(now)s,
                   started_at = COALESCE(started_at, %(now)s)
             WHERE id = %(id)s
               AND (state = 'queued'
                    OR (state = 'running' AND heartbeat_at < %(now)s - make_interval(secs => %(lease)s)))
            RETURNING attempt
            """,
            {"now": now, "id": run_id, "lease": settings.ACTIONS_LEASE_SECONDS},
        )
        row = cursor.fetchone()
    return row[0] if row else None


def execute(run_id: int) -> str:
    """Run the action of ``run_id`` if it is ours to run; returns what happened, for the log."""
    with transaction.atomic():
        attempt = claim(run_id)
        if attempt is None:
            run = ActionRun.objects.filter(pk=run_id).first()
            if run is None:
                return "missing"
            if run.state == State.RUNNING:
                raise Busy(settings.ACTIONS_LEASE_SECONDS)
            return f"skipped ({run.state})"
        run = ActionRun.objects.select_related("tenant", "requested_by").get(pk=run_id)
        audit_run(run, "action.started" if attempt == 1 else "action.resumed", attempt=attempt)
    action = registry.get(run.kind)
    ctx = RunContext(run, attempt)
    try:
        if action is None:
            raise ActionFailed(f"unknown action kind {run.kind!r}")
        result = action.run(ctx)
    except RunStopped:
        _cleanup(action, ctx)
        return "stopped"
    except SoftTimeLimitExceeded:
        # Long runs continue in a fresh task from their checkpoint.
        # The task sends the run to a fresh task; see tasks.run_action.
        _release(ctx)
        return "continued"
    except OperationalError:
        # The task retries with backoff; the run waits in the queue meanwhile.
        _release(ctx)
        raise
    except Exception as exc:  # every failure ends on the receipt
        log.exception("action run %s failed", run_id)
        message = str(exc) if isinstance(exc, ActionFailed) else f"{type(exc).__name__}: {exc}"
        fail(ctx, message[:2000])
        _cleanup(action, ctx)
        return "failed"
    finish(ctx, result)
    return "succeeded"


def finish(ctx: RunContext, result: dict[str, Any]) -> None:
    with transaction.atomic():
        ctx._fence(
            state=State.SUCCEEDED,
            result=result,
            finished_at=timezone.now(),
            progress_done=max(ctx.done, ctx.total or 0),
        )
        ctx.run.refresh_from_db()
        audit_run(ctx.run, "action.finished", result=result)


def fail(ctx: RunContext, message: str) -> None:
    try:
        with transaction.atomic():
            ctx._fence(state=State.FAILED, error=message, finished_at=timezone.now())
            audit_run(ctx.run, "action.failed", error=message, done=ctx.done, total=ctx.total)
    except RunStopped:
        pass


def give_up(run_id: int, message: str) -> None:
    """The task ran out of retries: fail the run whichever worker last held it."""
    with transaction.atomic():
        run = (
            ActionRun.objects.select_for_update(of=("self",))
            .filter(pk=run_id)
            .select_related("tenant", "requested_by")
            .first()
        )
        if run is None or run.state not in (State.QUEUED, State.RUNNING):
            return
        run.state, run.error, run.finished_at = State.FAILED, message[:2000], timezone.now()
        run.save(update_fields=["state", "error", "finished_at"])
        audit_run(run, "action.failed", error=run.error)


def _release(ctx: RunContext) -> None:
    """Hand the run back to the queue so another task resumes it from its checkpoint."""
    # Without a database the lease runs out on its own, and the run may be claimed again.
    with contextlib.suppress(OperationalError):
        ActionRun.objects.filter(pk=ctx.run.pk, state=State.RUNNING, attempt=ctx.attempt).update(
            state=State.QUEUED, heartbeat_at=None
        )


def _cleanup(action: registry.Action | None, ctx: RunContext) -> None:
    if action is None:
        return
    try:
        action.cleanup(ctx)
    except Exception:  # cleanup is best effort; the failure is already recorded
        log.exception("cleanup after run %s failed", ctx.run.pk)


def stalled_run_ids() -> list[int]:
    """Queued runs nobody picked up, and running ones whose worker went silent."""
    cutoff = timezone.now() - timedelta(seconds=settings.ACTIONS_LEASE_SECONDS)
    queued = ActionRun.objects.filter(state=State.QUEUED, queued_at__lt=cutoff)
    running = ActionRun.objects.filter(state=State.RUNNING, heartbeat_at__lt=cutoff)
    return sorted(set(queued.values_list("id", flat=True)) | set(running.values_list("id", flat=True)))
