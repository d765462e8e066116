"""/settings/slos/: admins add, edit, disable and enable SLOs; every change is audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from opsdash.alerts.models import Alert, Slo
from opsdash.alerts.services import Raised, open_or_keep
from opsdash.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

VALID = {
    "route": "/chat/answer",
    "tenant": "",
    "latency_percentile": "95",
    "latency_target_ms": "2000",
    "error_rate_target_pct": "1",
    "window_days": "30",
}


def test_it_adds_an_slo_and_audits_it(client, alice):
    client.force_login(alice)
    assert client.get(reverse("settings-slo-new")).status_code == 200
    response = client.post(reverse("settings-slo-new"), VALID)
    assert response.status_code == 302
    slo = Slo.objects.get()
    assert (slo.route, slo.tenant, slo.latency_target_ms, slo.window_days, slo.enabled) == (
        "/chat/answer", None, 2000, 30, True,
    )  # fmt: skip
    event = AuditEvent.objects.get(action="slo.create")
    assert event.actor == alice
    assert event.before is None
    assert event.after["latency_target_ms"] == 2000
    listed = client.get(reverse("settings-slos")).content.decode()
    assert "/chat/answer" in listed
    assert "p95 ≤ 2000 ms" in listed


def test_it_edits_an_slo_with_before_and_after(client, alice, acme):
    slo = Slo.objects.create(route="/chat", latency_target_ms=1000)
    client.force_login(alice)
    response = client.post(
        reverse("settings-slo-edit", args=[slo.pk]),
        {**VALID, "route": "/chat", "tenant": "acme", "latency_target_ms": "1500"},
    )
    assert response.status_code == 302
    slo.refresh_from_db()
    assert (slo.latency_target_ms, slo.tenant) == (1500, acme)
    event = AuditEvent.objects.get(action="slo.update")
    assert (event.before["latency_target_ms"], event.after["latency_target_ms"]) == (1000, 1500)
    assert (event.before["tenant"], event.after["tenant"]) == (None, "acme")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"route": "  "}, "This field is required."),
        ({"latency_percentile": "100"}, "less than or equal to 99.9"),
        ({"latency_target_ms": "0"}, "greater than or equal to 1"),
        ({"error_rate_target_pct": "60"}, "less than or equal to 50"),
        ({"window_days": "90"}, "less than or equal to 35"),
    ],
)
def test_it_says_what_is_wrong_with_a_bad_slo(client, alice, change, message):
    client.force_login(alice)
    response = client.post(reverse("settings-slo-new"), {**VALID, **change})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Slo.objects.exists()


def test_it_refuses_a_second_slo_for_the_same_route_and_tenants(client, alice):
    Slo.objects.create(route="/chat/answer", latency_target_ms=900)
    client.force_login(alice)
    response = client.post(reverse("settings-slo-new"), VALID)
    assert response.status_code == 400
    assert "There is already an SLO for /chat/answer and all tenants" in response.content.decode()


def test_it_disables_an_slo_resolving_its_alerts_and_enables_it_again(client, alice):
    slo = Slo.objects.create(route="/chat", latency_target_ms=1000)
    alert, _ = open_or_keep(
        Raised(
            rule="slo.burn_fast",
            subject=f"slo:{slo.pk}:errors",
            severity="critical",
            title="t",
            detail="",
            path="/latency/",
            slo=slo,
        )
    )
    client.force_login(alice)
    assert client.post(reverse("settings-slo-enabled", args=[slo.pk]), {"enabled": "0"}).status_code == 302
    slo.refresh_from_db()
    alert.refresh_from_db()
    assert not slo.enabled
    assert (alert.state, alert.resolved_reason) == (Alert.State.RESOLVED, "SLO disabled")
    disabled = AuditEvent.objects.get(action="slo.disable")
    assert (disabled.before["enabled"], disabled.after["enabled"]) == (True, False)
    client.post(reverse("settings-slo-enabled", args=[slo.pk]), {"enabled": "1"})
    slo.refresh_from_db()
    assert slo.enabled
    assert AuditEvent.objects.filter(action="slo.enable").count() == 1


def test_it_keeps_the_pages_from_non_admins(client, bob, carol):
    slo = Slo.objects.create(route="/chat", latency_target_ms=1000)
    for user in (bob, carol):
        client.force_login(user)
        assert client.get(reverse("settings-slos")).status_code == 403
        assert client.post(reverse("settings-slo-new"), VALID).status_code == 403
        assert client.post(reverse("settings-slo-enabled", args=[slo.pk]), {"enabled": "0"}).status_code == 403
    assert Slo.objects.get().enabled


def test_it_limits_a_scoped_admin_to_the_slos_of_their_tenants(client, grace, acme, globex):
    shared = Slo.objects.create(route="/chat", latency_target_ms=1000)
    theirs = Slo.objects.create(route="/chat", tenant=globex, latency_target_ms=1000)
    mine = Slo.objects.create(route="/chat", tenant=acme, latency_target_ms=1000)
    client.force_login(grace)
    assert list(client.get(reverse("settings-slos")).context["page"].object_list) == [mine]
    assert client.get(reverse("settings-slo-edit", args=[shared.pk])).status_code == 404
    assert client.get(reverse("settings-slo-edit", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("settings-slo-edit", args=[mine.pk])).status_code == 200
    # No SLO over every tenant, nor for another tenant.
    assert client.post(reverse("settings-slo-new"), {**VALID, "tenant": ""}).status_code == 400
    assert client.post(reverse("settings-slo-new"), {**VALID, "tenant": "globex"}).status_code == 400
    assert client.post(reverse("settings-slo-new"), {**VALID, "tenant": "acme"}).status_code == 302
    assert Slo.objects.filter(route="/chat/answer", tenant=acme).exists()
