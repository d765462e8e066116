from __future__ import annotations

import pytest
from django.urls import reverse

from opsdash.actions.models import ActionRun
from opsdash.knowledge.models import Message
from opsdash.tenants.models import Tenant
from tests.actions.conftest import confirm, make_conversations
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def requested_purge(client, alice, globex, django_capture_on_commit_callbacks):
    """alice (admin) requests a purge of globex; it waits for a second admin."""
    make_conversations(globex, 2, 3)
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        confirm(client, globex, "purge_conversations", {}, slug="globex")
    client.logout()
    return ActionRun.objects.get()


def test_it_holds_a_purge_until_a_second_admin_approves(requested_purge):
    assert requested_purge.state == ActionRun.State.AWAITING_APPROVAL
    assert Message.objects.count() == 6


def test_it_does_not_let_the_requester_approve(client, alice, requested_purge):
    client.force_login(alice)
    response = client.post(reverse("action-approve", args=[requested_purge.pk]))
    assert response.status_code == 403
    requested_purge.refresh_from_db()
    assert requested_purge.state == ActionRun.State.AWAITING_APPROVAL
    assert Message.objects.count() == 6


def test_it_does_not_let_an_admin_of_another_tenant_approve(client, grace, requested_purge):
    client.force_login(grace)  # admin, but of acme only
    assert client.post(reverse("action-approve", args=[requested_purge.pk])).status_code == 404
    assert client.get(reverse("action-detail", args=[requested_purge.pk])).status_code == 404
    requested_purge.refresh_from_db()
    assert requested_purge.state == ActionRun.State.AWAITING_APPROVAL


def test_it_does_not_let_an_operator_approve(client, bob, requested_purge):
    client.force_login(bob)
    assert client.post(reverse("action-approve", args=[requested_purge.pk])).status_code == 403
    requested_purge.refresh_from_db()
    assert requested_purge.state == ActionRun.State.AWAITING_APPROVAL


def test_it_ignores_an_approval_smuggled_into_the_confirmation(client, bob, acme, django_capture_on_commit_callbacks):
    make_conversations(acme, 1, 2)
    client.force_login(bob)
    with django_capture_on_commit_callbacks(execute=True):
        confirm(client, acme, "purge_conversations", {"approved": "1", "state": "queued", "approved_by": "1"},
                slug="acme")  # fmt: skip
    run = ActionRun.objects.get()
    assert run.state == ActionRun.State.AWAITING_APPROVAL
    assert run.approved_by is None
    assert Message.objects.count() == 2


def test_it_runs_once_a_second_admin_approves(client, requested_purge, django_capture_on_commit_callbacks):
    second = make_user("heidi", "admin")
    client.force_login(second)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("action-approve", args=[requested_purge.pk]))
    assert response.status_code == 302
    requested_purge.refresh_from_db()
    assert requested_purge.state == ActionRun.State.SUCCEEDED
    assert requested_purge.approved_by == second
    assert Message.objects.count() == 0
    # Approving twice does nothing more.
    assert client.post(reverse("action-approve", args=[requested_purge.pk])).status_code == 409


def test_it_lists_runs_awaiting_approval_for_admins(client, requested_purge, carol):
    second = make_user("heidi", "admin")
    client.force_login(second)
    response = client.get(reverse("actions"))
    assert [run.pk for run in response.context["pending"]] == [requested_purge.pk]
    assert "deletes 6 messages in 2 conversations of tenant globex" in response.content.decode()
    client.force_login(carol)
    assert b'data-testid="awaiting-approval"' not in client.get(reverse("actions")).content


def test_it_lets_a_second_admin_reject(client, requested_purge):
    client.force_login(make_user("heidi", "admin"))
    assert client.post(reverse("action-reject", args=[requested_purge.pk])).status_code == 302
    requested_purge.refresh_from_db()
    assert requested_purge.state == ActionRun.State.CANCELLED
    assert Message.objects.count() == 6


def test_it_takes_the_list_of_actions_needing_approval_from_settings(
    client, bob, acme, settings, django_capture_on_commit_callbacks
):
    settings.ACTIONS_REQUIRE_APPROVAL = ["pause_tenant"]
    client.force_login(bob)
    with django_capture_on_commit_callbacks(execute=True):
        confirm(client, acme, "pause_tenant", {"reason": "needs two"})
    assert ActionRun.objects.get().state == ActionRun.State.AWAITING_APPROVAL
    acme.refresh_from_db()
    assert acme.status == Tenant.Status.ACTIVE

    make_conversations(acme, 1, 2)
    with django_capture_on_commit_callbacks(execute=True):
        confirm(client, acme, "purge_conversations", {}, slug="acme")
    assert ActionRun.objects.get(kind="purge_conversations").state == ActionRun.State.SUCCEEDED
    assert Message.objects.count() == 0
