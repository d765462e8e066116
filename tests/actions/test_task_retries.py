"""The task retries transient database errors with a bound, then gives the run up."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from opsdash.actions import runner
from opsdash.actions.models import ActionRun
from opsdash.actions.tasks import MAX_RETRIES, run_action
from opsdash.knowledge import services as knowledge
from tests.actions.conftest import make_conversations

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _retries_run_in_process(eager_celery):
    # Eagerly applied, a retry runs at once (no countdown); errors end in the result.
    eager_celery.conf.task_eager_propagates = False


@pytest.fixture
def purge(acme, bob):
    make_conversations(acme, 2, 3)
    return ActionRun.objects.create(
        kind="purge_conversations", tenant=acme, requested_by=bob, state="queued", idempotency_key="t" * 20
    )


def test_it_hands_a_run_back_to_the_queue_on_a_database_error(purge, monkeypatch):
    def broken(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(knowledge, "purge_step", broken)
    with pytest.raises(OperationalError):
        runner.execute(purge.pk)
    purge.refresh_from_db()
    assert purge.state == ActionRun.State.QUEUED  # the retry resumes it from its checkpoint


def test_it_retries_a_transient_error_and_then_succeeds(purge, monkeypatch):
    real, calls = knowledge.purge_step, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) <= 2:
            raise OperationalError("could not serialize access")
        return real(*args, **kwargs)

    monkeypatch.setattr(knowledge, "purge_step", flaky)
    assert run_action.apply(args=(purge.pk,)).get() == "succeeded"
    purge.refresh_from_db()
    assert purge.state == ActionRun.State.SUCCEEDED
    assert purge.result["messages_deleted"] == 6


def test_it_fails_the_run_when_retries_run_out(purge, monkeypatch):
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise OperationalError("the database is down")

    monkeypatch.setattr(knowledge, "purge_step", broken)
    with pytest.raises(OperationalError):
        run_action.apply(args=(purge.pk,)).get()
    assert len(calls) == MAX_RETRIES + 1
    purge.refresh_from_db()
    assert purge.state == ActionRun.State.FAILED
    assert "after 5 retries" in purge.error
