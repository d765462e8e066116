"""/settings/budgets/: admins set budgets and the hard stop per tenant, audited."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from opsdash.audit.models import AuditEvent
from opsdash.tenants.models import Tenant

pytestmark = pytest.mark.django_db


def form(slug: str, daily: str = "", monthly: str = "", hard_stop: bool = False) -> dict[str, str]:
    data = {f"{slug}-daily_budget_usd": daily, f"{slug}-monthly_budget_usd": monthly}
    if hard_stop:
        data[f"{slug}-hard_stop"] = "on"
    return data


def test_it_shows_every_tenant_with_its_budgets(client, alice, acme, globex):
    client.force_login(alice)
    page = client.get(reverse("settings-budgets")).content.decode()
    assert 'value="100.00"' in page  # acme's daily budget, in its input
    assert 'value="2500.00"' in page
    assert 'form="budget-form-acme"' in page
    assert 'id="budget-form-globex"' in page


def test_it_saves_budgets_and_hard_stop_with_before_and_after(client, alice, acme):
    client.force_login(alice)
    response = client.post(reverse("settings-budget-update", args=["acme"]), form("acme", "150", "3000", True))
    assert response.status_code == 302
    acme.refresh_from_db()
    assert (acme.daily_budget_usd, acme.monthly_budget_usd, acme.hard_stop) == (Decimal(150), Decimal(3000), True)
    event = AuditEvent.objects.get(action="tenant.budget_update")
    assert event.actor == alice
    assert event.tenant == acme
    assert event.before == {"daily_budget_usd": "100.00", "monthly_budget_usd": "2500.00", "hard_stop": False}
    assert event.after == {"daily_budget_usd": "150.00", "monthly_budget_usd": "3000.00", "hard_stop": True}
    # The same values again change nothing and write nothing.
    client.post(reverse("settings-budget-update", args=["acme"]), form("acme", "150", "3000", True))
    assert AuditEvent.objects.filter(action="tenant.budget_update").count() == 1


def test_it_removes_a_budget_left_empty(client, alice, acme):
    client.force_login(alice)
    client.post(reverse("settings-budget-update", args=["acme"]), form("acme", "", "2500"))
    acme.refresh_from_db()
    assert acme.daily_budget_usd is None
    assert acme.monthly_budget_usd == Decimal(2500)


def test_it_says_what_is_wrong_with_a_bad_amount(client, alice, acme):
    client.force_login(alice)
    response = client.post(reverse("settings-budget-update", args=["acme"]), form("acme", "-5", "lots"))
    assert response.status_code == 400
    page = response.content.decode()
    assert "greater than or equal to 0" in page
    assert "Enter a number." in page
    assert Tenant.objects.get(slug="acme").daily_budget_usd == Decimal(100)


def test_it_limits_a_scoped_admin_to_their_tenants(client, grace, acme, globex):
    client.force_login(grace)
    listed = [row["tenant"] for row in client.get(reverse("settings-budgets")).context["page"].object_list]
    assert listed == [acme]
    assert client.post(reverse("settings-budget-update", args=["globex"]), form("globex", "1")).status_code == 404
    assert Tenant.objects.get(slug="globex").daily_budget_usd == Decimal(50)


def test_it_keeps_budgets_from_operators_and_viewers(client, bob, carol, acme):
    for user in (bob, carol):
        client.force_login(user)
        assert client.get(reverse("settings-budgets")).status_code == 403
        assert client.post(reverse("settings-budget-update", args=["acme"]), form("acme", "1")).status_code == 403
    assert Tenant.objects.get(slug="acme").daily_budget_usd == Decimal(100)
