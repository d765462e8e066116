"""What an action's ``run()`` works with: the RunContext (checkpoint, progress, the batch
transaction) and the exceptions that end a run. Kept apart from the runner so that the
registry and the definitions can name these without importing the runner, which looks
actions up in the registry."""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from opsdash.actions.models import ActionRun
from opsdash.audit.services import record_event

log = logging.getLogger("opsdash.actions.runner")
State = ActionRun.State
MILESTONES = 4  # progress is audited every 25 %
WORKER = "worker"


class RunStopped(Exception):
    """The run was cancelled, or another worker took it over: stop without a trace."""


class Busy(Exception):
    """Another worker holds a fresh lease on the run."""

    def __init__(self, retry_in: int) -> None:
        super().__init__(f"run is held by another worker; retry in {retry_in}s")
        self.retry_in = retry_in


class ActionFailed(Exception):
    """A failure whose message is shown on the receipt as is."""


def audit_run(run: ActionRun, action: str, **detail: Any) -> None:
    record_event(
        action,
        actor_label=WORKER,
        target=run,
        target_label=f"{run.kind} #{run.pk}",
        tenant=run.tenant,
        detail={
            "run": run.pk,
            "kind": run.kind,
            "parameters": run.parameters,
            "requested_by": run.requested_by.get_username() if run.requested_by else None,
            **detail,
        },
    )


class RunContext:
    """Handed to ``Action.run``: the checkpoint, progress and the batch transaction."""

    def __init__(self, run: ActionRun, attempt: int) -> None:
        self.run = run
        self.attempt = attempt
        self.checkpoint: dict[str, Any] = copy.deepcopy(run.checkpoint or {})
        self.done = run.progress_done
        self.total = run.progress_total
        self.batches = 0
        self._pending = 0

    @property
    def actor(self) -> Any:
        return self.run.requested_by

    def set_total(self, total: int) -> None:
        """Record the amount of work once, at the first claim (a resumed run keeps it)."""
        if self.total is None:
            self.total = total
            self._fence(progress_total=total)

    def advance(self, amount: int) -> None:
        self._pending += amount

    @contextmanager
    def batch(self) -> Iterator[dict[str, Any]]:
        """One unit of work and its checkpoint in one transaction."""
        self._pending = 0
        started = time.monotonic()
        with transaction.atomic():
            checkpoint = copy.deepcopy(self.checkpoint)
            yield checkpoint
            done = self.done + self._pending
            self._fence(checkpoint=checkpoint, progress_done=done)
            self._milestones(self.done, done)
        self.checkpoint, self.done = checkpoint, done
        self.batches += 1
        # Leave the database some room between batches, so ingest and pages keep their
        # latency while a long purge or re-embed runs.
        time.sleep((time.monotonic() - started) * settings.ACTIONS_BATCH_YIELD_PERCENT / 100)
        crash_after = settings.ACTIONS_CRASH_AFTER_BATCHES
        if crash_after and self.batches >= crash_after:
            log.warning("fault injection: exiting after %s batches of run %s", self.batches, self.run.pk)
            os._exit(70)

    def _fence(self, **changes: Any) -> None:
        updated = ActionRun.objects.filter(pk=self.run.pk, state=State.RUNNING, attempt=self.attempt).update(
            heartbeat_at=timezone.now(), **changes
        )
        if not updated:
            raise RunStopped

    def _milestones(self, before: int, after: int) -> None:
        if not self.total:
            return
        step_before = min(MILESTONES, before * MILESTONES // self.total)
        step_after = min(MILESTONES, after * MILESTONES // self.total)
        # One event for the highest milestone a batch crossed; reaching 100 % is "finished".
        if step_before < step_after < MILESTONES:
            audit_run(self.run, "action.progress", percent=step_after * 100 // MILESTONES, done=after, total=self.total)
