from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.urls import reverse

from opsdash.actions import runner, services
from opsdash.actions.models import ActionRun
from opsdash.actions.services import cancel_run
from opsdash.audit.models import AuditEvent
from opsdash.knowledge import services as knowledge
from opsdash.knowledge.models import Message
from tests.actions.conftest import confirm, make_conversations

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_approval(settings):
    settings.ACTIONS_REQUIRE_APPROVAL = []
    settings.ACTIONS_BATCH_SIZE = 4


def test_it_cancels_a_queued_run_before_it_starts(client, bob, acme, no_approval):
    make_conversations(acme, 2, 3)
    client.force_login(bob)
    confirm(client, acme, "purge_conversations", {}, slug="acme")  # not committed: no task yet
    run = ActionRun.objects.get()
    assert run.state == ActionRun.State.QUEUED
    assert client.post(reverse("action-cancel", args=[run.pk])).status_code == 302
    # The message arrives after all: nothing happens.
    assert runner.execute(run.pk) == "skipped (cancelled)"
    run.refresh_from_db()
    assert run.state == ActionRun.State.CANCELLED
    assert run.cancelled_by == bob
    assert Message.objects.count() == 6
    assert AuditEvent.objects.filter(action="action.cancelled", actor=bob).count() == 1


def cancel_elsewhere(run_id, user):
    """Cancel from another connection, as a person on the web page would while the worker works."""

    def cancel():
        try:
            cancel_run(ActionRun.objects.get(pk=run_id), acting_user=user)
        finally:
            connection.close()

    thread = threading.Thread(target=cancel)
    thread.start()
    thread.join()


@pytest.mark.django_db(transaction=True)
def test_it_stops_a_running_purge_at_the_next_batch(client, bob, acme, no_approval, monkeypatch):
    make_conversations(acme, 3, 4)
    client.force_login(bob)
    monkeypatch.setattr(services, "_enqueue", lambda run: None)  # the test plays the worker
    confirm(client, acme, "purge_conversations", {}, slug="acme")
    run = ActionRun.objects.get()
    real_step, calls = knowledge.purge_step, []

    def step_then_cancel(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            cancel_elsewhere(run.pk, bob)
        return real_step(*args, **kwargs)

    monkeypatch.setattr(knowledge, "purge_step", step_then_cancel)
    assert runner.execute(run.pk) == "stopped"
    run.refresh_from_db()
    assert run.state == ActionRun.State.CANCELLED
    # The first batch (4 messages) is done; the second was rolled back with the cancel.
    assert run.progress_done == 4
    assert Message.objects.count() == 8
    assert len(calls) == 2


def test_it_retries_a_failed_run_from_its_checkpoint(client, bob, acme, no_approval, monkeypatch):
    make_conversations(acme, 3, 4)
    client.force_login(bob)
    confirm(client, acme, "purge_conversations", {}, slug="acme")
    run = ActionRun.objects.get()
    real_step, calls = knowledge.purge_step, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk on fire")
        return real_step(*args, **kwargs)

    monkeypatch.setattr(knowledge, "purge_step", flaky)
    assert runner.execute(run.pk) == "failed"
    run.refresh_from_db()
    assert run.state == ActionRun.State.FAILED
    assert "disk on fire" in run.error
    assert 0 < Message.objects.count() < 12  # stopped part way
    page = client.get(reverse("action-detail", args=[run.pk])).content.decode()
    assert "disk on fire" in page
    assert "Retry" in page

    response = client.post(reverse("action-retry", args=[run.pk]))
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.state == ActionRun.State.QUEUED
    assert runner.execute(run.pk) == "succeeded"
    run.refresh_from_db()
    assert run.result == {
        "messages_deleted": 12,
        "conversations_deleted": 3,
        "older_than": None,
        "user_hash": None,
    }
    assert Message.objects.count() == 0
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"action.failed", "action.retried", "action.resumed", "action.finished"} <= actions


def test_it_retries_only_failed_runs(client, bob, acme, no_approval):
    client.force_login(bob)
    confirm(client, acme, "pause_tenant", {"reason": "x"})
    run = ActionRun.objects.get()
    response = client.post(reverse("action-retry", args=[run.pk]))
    assert response.status_code == 409
    assert b"Only a failed run can be retried" in response.content


def test_it_cannot_cancel_a_finished_run(client, bob, acme, django_capture_on_commit_callbacks):
    client.force_login(bob)
    confirm(client, acme, "pause_tenant", {"reason": "x"}, capture=django_capture_on_commit_callbacks)
    run = ActionRun.objects.get()
    response = client.post(reverse("action-cancel", args=[run.pk]))
    assert response.status_code == 409
    run.refresh_from_db()
    assert run.state == ActionRun.State.SUCCEEDED
