from __future__ import annotations

import pytest
from django.urls import reverse

from opsdash.actions.models import ActionRun
from opsdash.audit.models import AuditEvent
from opsdash.tenants.models import Tenant
from tests.actions.conftest import confirm

pytestmark = pytest.mark.django_db


def test_it_previews_a_pause_before_doing_anything(client, bob, acme):
    client.force_login(bob)
    response = client.post(reverse("action-new", args=["acme", "pause_tenant"]), {"reason": "abuse report 42"})
    assert response.status_code == 200
    assert b"pauses tenant acme" in response.content
    acme.refresh_from_db()
    assert acme.status == Tenant.Status.ACTIVE
    assert not ActionRun.objects.exists()


def test_it_pauses_and_resumes_a_tenant(client, bob, acme, django_capture_on_commit_callbacks):
    client.force_login(bob)
    response = confirm(client, acme, "pause_tenant", {"reason": "abuse report 42"},
                       capture=django_capture_on_commit_callbacks)  # fmt: skip
    run = ActionRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("action-detail", args=[run.pk])
    run.refresh_from_db()
    assert run.state == ActionRun.State.SUCCEEDED
    assert run.result["status"] == "paused"
    acme.refresh_from_db()
    assert acme.status == Tenant.Status.PAUSED
    assert acme.paused_reason == "abuse report 42"
    page = client.get(reverse("tenant-detail", args=["acme"])).content.decode()
    assert "abuse report 42" in page
    assert "Resume tenant" in page
    assert "Pause tenant" not in page

    confirm(client, acme, "resume_tenant", {"reason": "resolved"}, capture=django_capture_on_commit_callbacks)
    acme.refresh_from_db()
    assert acme.status == Tenant.Status.ACTIVE
    assert acme.paused_reason == ""


def test_it_audits_every_step_of_a_run(client, bob, acme, django_capture_on_commit_callbacks):
    client.force_login(bob)
    confirm(client, acme, "pause_tenant", {"reason": "incident"}, capture=django_capture_on_commit_callbacks)
    actions = list(
        AuditEvent.objects.exclude(action__startswith="login").order_by("id").values_list("action", flat=True)
    )
    assert actions == ["action.requested", "action.started", "tenant.pause", "action.finished"]
    requested = AuditEvent.objects.get(action="action.requested")
    assert requested.actor == bob
    assert requested.detail["parameters"] == {"reason": "incident"}
    assert requested.tenant == acme


def test_it_requires_a_reason(client, bob, acme):
    client.force_login(bob)
    response = client.post(reverse("action-new", args=["acme", "pause_tenant"]), {"reason": "   "})
    assert response.status_code == 400
    assert b"This field is required" in response.content or b"Give a reason" in response.content
    response = confirm(client, acme, "pause_tenant", {"reason": ""})
    assert response.status_code == 400
    assert not ActionRun.objects.exists()


def test_it_refuses_to_pause_a_paused_tenant(client, bob, acme):
    Tenant.objects.filter(pk=acme.pk).update(status=Tenant.Status.PAUSED, paused_reason="earlier")
    client.force_login(bob)
    response = client.get(reverse("action-new", args=["acme", "pause_tenant"]))
    assert response.status_code == 409
    assert b"already paused" in response.content
    response = confirm(client, acme, "pause_tenant", {"reason": "again"})
    assert response.status_code == 409
    assert not ActionRun.objects.exists()


def test_it_makes_one_run_of_a_double_submitted_confirmation(client, bob, acme):
    client.force_login(bob)
    first = confirm(client, acme, "pause_tenant", {"reason": "x"}, key="k" * 24)
    second = confirm(client, acme, "pause_tenant", {"reason": "x"}, key="k" * 24)
    assert first["Location"] == second["Location"]
    assert ActionRun.objects.count() == 1


def test_it_refuses_an_unknown_action(client, bob, acme):
    client.force_login(bob)
    assert client.get(reverse("action-new", args=["acme", "format_disk"])).status_code == 404


def test_it_refuses_a_confirmation_without_its_key(client, bob, acme):
    client.force_login(bob)
    response = client.post(reverse("action-confirm", args=["acme", "pause_tenant"]), {"reason": "x"})
    assert response.status_code == 400
    assert b"This confirmation is incomplete" in response.content
    assert not ActionRun.objects.exists()
