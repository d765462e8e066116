from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from opsdash.actions.models import ActionRun
from opsdash.actions.services import approve_run
from opsdash.audit.models import AuditEvent
from opsdash.knowledge.models import Conversation, Message
from tests.actions.conftest import confirm, make_conversations

pytestmark = pytest.mark.django_db

OLD = datetime(2026, 8, 15, tzinfo=UTC)
NEW = datetime(2026, 10, 1, tzinfo=UTC)


@pytest.fixture
def history(acme, globex):
    make_conversations(acme, 6, 7, ended=OLD)
    make_conversations(acme, 4, 5, ended=NEW, start=100)
    make_conversations(acme, 2, 3, ended=OLD, user_hash="ab" * 16, start=200)
    make_conversations(globex, 3, 4, ended=OLD)


def test_it_counts_what_a_purge_deletes_before_asking(client, bob, history):
    client.force_login(bob)
    response = client.post(reverse("action-new", args=["acme", "purge_conversations"]), {"before": "2026-09-01"})
    assert response.status_code == 200
    assert b"deletes 48 messages in 8 conversations of tenant acme older than 2026-09-01" in response.content
    assert b"Type the tenant" in response.content
    assert Message.objects.count() == 6 * 7 + 4 * 5 + 2 * 3 + 3 * 4


def test_it_purges_only_older_conversations_in_small_batches(
    client, bob, alice, acme, history, settings, django_capture_on_commit_callbacks
):
    settings.ACTIONS_BATCH_SIZE = 5
    client.force_login(bob)
    confirm(client, acme, "purge_conversations", {"before": "2026-09-01"}, slug="acme")
    run = ActionRun.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        approve_run(run, acting_user=alice)
    run.refresh_from_db()
    assert run.state == ActionRun.State.SUCCEEDED
    assert run.result["messages_deleted"] == 48
    assert run.result["conversations_deleted"] == 8
    assert run.progress_done == run.progress_total == 56
    assert Conversation.objects.filter(tenant=acme).count() == 4
    assert Message.objects.filter(tenant=acme).count() == 20
    assert Message.objects.exclude(tenant=acme).count() == 12
    milestones = AuditEvent.objects.filter(action="action.progress").values_list("detail__percent", flat=True)
    assert sorted(milestones) == [25, 50, 75]
    # The receipt holds counts, never what was said.
    assert "message 0" not in str(run.result) + str(AuditEvent.objects.values_list("detail", flat=True))


def test_it_purges_one_users_conversations(client, bob, alice, acme, history, django_capture_on_commit_callbacks):
    client.force_login(bob)
    confirm(client, acme, "purge_conversations", {"user_hash": "AB" * 16}, slug="acme")
    with django_capture_on_commit_callbacks(execute=True):
        approve_run(ActionRun.objects.get(), acting_user=alice)
    run = ActionRun.objects.get()
    assert run.result["messages_deleted"] == 6
    assert run.result["conversations_deleted"] == 2
    assert not Conversation.objects.filter(user_hash="ab" * 16).exists()
    assert Conversation.objects.filter(tenant=acme).count() == 10


def test_it_wants_the_tenant_slug_typed_to_confirm(client, bob, acme, history):
    client.force_login(bob)
    response = confirm(client, acme, "purge_conversations", {"before": "2026-09-01"}, slug="acm")
    assert response.status_code == 400
    assert b"Type acme exactly to confirm" in response.content
    response = confirm(client, acme, "purge_conversations", {"before": "2026-09-01"})
    assert response.status_code == 400
    assert not ActionRun.objects.exists()


def test_it_rejects_a_malformed_user_hash(client, bob, acme):
    client.force_login(bob)
    response = client.post(reverse("action-new", args=["acme", "purge_conversations"]), {"user_hash": "bob@x"})
    assert response.status_code == 400
    assert b"hexadecimal" in response.content


def test_it_refuses_a_second_purge_while_one_is_pending(client, bob, acme, history):
    client.force_login(bob)
    confirm(client, acme, "purge_conversations", {}, slug="acme")
    response = confirm(client, acme, "purge_conversations", {"before": "2026-01-01"}, slug="acme")
    assert response.status_code == 409
    assert b"already in progress" in response.content
    assert ActionRun.objects.count() == 1
