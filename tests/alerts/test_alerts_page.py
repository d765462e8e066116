"""/alerts/: tabs, filters, scope per role, and acknowledging."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils.html import escape

from opsdash.alerts.models import Alert
from opsdash.alerts.services import Raised, open_or_keep, resolve
from opsdash.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def raise_alert(subject: str, tenant=None, rule: str = "budget.daily", severity: str = "warning") -> Alert:  # type: ignore[no-untyped-def]
    alert, _ = open_or_keep(
        Raised(
            rule=rule,
            subject=subject,
            severity=severity,
            title=f"{subject} needs a look",
            detail="Spent more than usual.",
            path=f"/cost/?tenant={tenant.slug}&range=24h" if tenant else "/latency/?route=/chat",
            tenant=tenant,
        )
    )
    return alert


@pytest.fixture
def alerts(acme, globex):
    return {
        "acme": raise_alert("tenant:acme", acme),
        "globex": raise_alert("tenant:globex", globex),
        "shared": raise_alert("slo:1:errors", None, rule="slo.burn_fast", severity="critical"),
    }


def titles(response) -> set[str]:  # type: ignore[no-untyped-def]
    return {a.title for a in response.context["page"].object_list}


@pytest.mark.parametrize(
    ("user", "sees"),
    [
        ("alice", {"acme", "globex", "shared"}),
        ("carol", {"acme", "globex", "shared"}),
        # An SLO alert about no tenant holds numbers over every tenant: not for scoped users.
        ("dave", {"globex"}),
        ("frank", {"acme"}),
        ("grace", {"acme"}),
    ],
)
def test_it_shows_each_user_the_alerts_of_their_tenants(client, alerts, request, user, sees):
    client.force_login(request.getfixturevalue(user))
    response = client.get(reverse("alerts"))
    assert response.status_code == 200
    assert titles(response) == {alerts[name].title for name in sees}
    page = response.content.decode()
    for name in {"acme", "globex", "shared"} - sees:
        assert alerts[name].title not in page
    for name in sees:
        assert f'href="{escape(alerts[name].path)}"' in page  # the link to the cause


def test_it_keeps_the_page_from_users_without_a_role(client, eve, alerts):
    client.force_login(eve)
    assert client.get(reverse("alerts")).status_code == 403


def test_it_lists_each_state_under_its_tab_with_counts(client, carol, bob, alerts):
    resolve(alerts["globex"], reason="cleared")
    client.force_login(bob)
    client.post(reverse("alert-acknowledge", args=[alerts["acme"].pk]))
    client.force_login(carol)
    open_tab = client.get(reverse("alerts"))
    assert titles(open_tab) == {alerts["shared"].title}
    assert [(value, count) for value, _, count in open_tab.context["tabs"]] == [
        ("open", 1), ("acknowledged", 1), ("resolved", 1),
    ]  # fmt: skip
    acknowledged = client.get(reverse("alerts"), {"state": "acknowledged"})
    assert titles(acknowledged) == {alerts["acme"].title}
    assert "bob" in acknowledged.content.decode()
    resolved = client.get(reverse("alerts"), {"state": "resolved"})
    assert titles(resolved) == {alerts["globex"].title}


def test_it_filters_by_tenant_rule_and_severity(client, carol, alerts):
    client.force_login(carol)
    assert titles(client.get(reverse("alerts"), {"tenant": "acme"})) == {alerts["acme"].title}
    assert titles(client.get(reverse("alerts"), {"rule": "slo.burn_fast"})) == {alerts["shared"].title}
    assert titles(client.get(reverse("alerts"), {"severity": "warning"})) == {
        alerts["acme"].title,
        alerts["globex"].title,
    }


@pytest.mark.parametrize(
    ("params", "named"),
    [({"state": "gone"}, "'state'"), ({"rule": "cpu.hot"}, "'rule'"), ({"severity": "meh"}, "'severity'")],
)
def test_it_answers_400_naming_a_bad_filter(client, carol, alerts, params, named):
    client.force_login(carol)
    response = client.get(reverse("alerts"), params)
    assert response.status_code == 400
    assert f"{escape(named)} must be one of" in response.content.decode()


def test_it_answers_404_for_a_tenant_outside_the_scope(client, dave, alerts):
    client.force_login(dave)
    assert client.get(reverse("alerts"), {"tenant": "acme"}).status_code == 404


def test_it_refreshes_the_open_list_as_a_partial(client, carol, alerts):
    client.force_login(carol)
    page = client.get(reverse("alerts")).content.decode()
    assert 'hx-trigger="every 30s"' in page
    partial = client.get(reverse("alerts"), headers={"HX-Request": "true", "HX-Target": "alert-list"})
    assert partial.status_code == 200
    body = partial.content.decode()
    assert body.lstrip().startswith('<div id="alert-list"')
    assert "<h1>" not in body
    assert alerts["shared"].title in body


# --- Acknowledge ----------------------------------------------------------------------------


def test_it_lets_an_operator_acknowledge_with_their_name_on_it(client, bob, alerts):
    client.force_login(bob)
    page = client.get(reverse("alerts")).content.decode()
    assert f'action="{reverse("alert-acknowledge", args=[alerts["acme"].pk])}"' in page
    assert "csrfmiddlewaretoken" in page
    response = client.post(reverse("alert-acknowledge", args=[alerts["acme"].pk]), {"next": "/alerts/?tenant=acme"})
    assert response.status_code == 302
    assert response["Location"] == "/alerts/?tenant=acme"
    alert = Alert.objects.get(pk=alerts["acme"].pk)
    assert (alert.state, alert.acknowledged_by) == (Alert.State.ACKNOWLEDGED, bob)
    event = AuditEvent.objects.get(action="alert.acknowledged")
    assert (event.actor, event.before["state"], event.after["state"]) == (bob, "open", "acknowledged")
    # Twice: nothing changes, and it says why.
    again = client.post(reverse("alert-acknowledge", args=[alert.pk]), follow=True)
    assert "not open" in again.content.decode()


def test_it_refuses_viewers_with_403(client, carol, alerts):
    client.force_login(carol)
    assert 'name="next"' not in client.get(reverse("alerts")).content.decode()
    assert client.post(reverse("alert-acknowledge", args=[alerts["acme"].pk])).status_code == 403
    assert Alert.objects.get(pk=alerts["acme"].pk).state == Alert.State.OPEN


def test_it_hides_other_tenants_alerts_from_a_scoped_operator_with_404(client, frank, alerts):
    client.force_login(frank)
    assert client.post(reverse("alert-acknowledge", args=[alerts["globex"].pk])).status_code == 404
    assert Alert.objects.get(pk=alerts["globex"].pk).state == Alert.State.OPEN
    # Nor may he see or acknowledge one about every tenant (its numbers span all of them).
    assert client.post(reverse("alert-acknowledge", args=[alerts["shared"].pk])).status_code == 404
    assert Alert.objects.get(pk=alerts["shared"].pk).state == Alert.State.OPEN


def test_it_ignores_a_next_address_on_another_site(client, bob, alerts):
    client.force_login(bob)
    response = client.post(reverse("alert-acknowledge", args=[alerts["acme"].pk]), {"next": "https://evil.test/"})
    assert response["Location"] == reverse("alerts")


def test_it_shows_eval_alerts_to_everyone_and_lets_a_scoped_operator_acknowledge_them(client, frank, dave):
    # Offline eval results belong to no tenant and hold no tenant's numbers (as on /evals/).
    failing = raise_alert("prompt:answer@v2", None, rule="eval.failing")
    client.force_login(dave)
    assert failing.title in titles(client.get(reverse("alerts")))
    client.force_login(frank)
    assert client.post(reverse("alert-acknowledge", args=[failing.pk])).status_code == 302
    assert Alert.objects.get(pk=failing.pk).acknowledged_by == frank
