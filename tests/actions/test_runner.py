"""The claim and the checkpoint fence: a run is carried out once, whatever the messages do."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from opsdash.actions import runner
from opsdash.actions.models import ActionRun
from opsdash.audit.models import AuditEvent
from opsdash.knowledge.models import Message
from tests.actions.conftest import make_conversations

pytestmark = pytest.mark.django_db


@pytest.fixture
def purge(acme, bob, settings):
    settings.ACTIONS_BATCH_SIZE = 3
    make_conversations(acme, 2, 5)
    return ActionRun.objects.create(
        kind="purge_conversations", tenant=acme, requested_by=bob, state="queued", idempotency_key="p" * 20
    )


def test_it_does_nothing_for_a_duplicate_message(purge):
    assert runner.execute(purge.pk) == "succeeded"
    audit_rows = AuditEvent.objects.count()
    assert runner.execute(purge.pk) == "skipped (succeeded)"
    purge.refresh_from_db()
    assert purge.attempt == 1
    assert purge.result["messages_deleted"] == 10
    assert AuditEvent.objects.count() == audit_rows


def test_it_leaves_a_run_with_a_live_worker_alone(purge):
    ActionRun.objects.filter(pk=purge.pk).update(state="running", attempt=1, heartbeat_at=timezone.now())
    with pytest.raises(runner.Busy):
        runner.execute(purge.pk)
    assert Message.objects.count() == 10


def test_it_takes_over_a_run_whose_worker_went_silent(purge, settings):
    stale = timezone.now() - timedelta(seconds=settings.ACTIONS_LEASE_SECONDS + 1)
    ActionRun.objects.filter(pk=purge.pk).update(state="running", attempt=1, heartbeat_at=stale)
    assert runner.execute(purge.pk) == "succeeded"
    purge.refresh_from_db()
    assert purge.attempt == 2
    assert AuditEvent.objects.filter(action="action.resumed").count() == 1
    assert Message.objects.count() == 0


def test_it_rolls_back_the_batch_of_a_superseded_worker(purge):
    attempt = runner.claim(purge.pk)
    ctx = runner.RunContext(ActionRun.objects.get(pk=purge.pk), attempt)
    ActionRun.objects.filter(pk=purge.pk).update(attempt=attempt + 1)  # another worker took over
    with pytest.raises(runner.RunStopped), ctx.batch():
        Message.objects.filter(tenant=purge.tenant).delete()
    assert Message.objects.count() == 10


def test_it_fails_a_run_of_an_unknown_kind(acme, bob):
    run = ActionRun.objects.create(kind="gone", tenant=acme, requested_by=bob, state="queued", idempotency_key="u" * 20)
    assert runner.execute(run.pk) == "failed"
    run.refresh_from_db()
    assert run.state == ActionRun.State.FAILED
    assert "unknown action kind" in run.error


def test_it_sends_stalled_runs_again(purge, settings):
    assert runner.stalled_run_ids() == []
    old = timezone.now() - timedelta(seconds=settings.ACTIONS_LEASE_SECONDS + 1)
    ActionRun.objects.filter(pk=purge.pk).update(queued_at=old)
    assert runner.stalled_run_ids() == [purge.pk]
