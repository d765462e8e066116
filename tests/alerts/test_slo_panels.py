"""The SLO panel of /latency/ and the alert and SLO tiles of the overview."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from opsdash.alerts.models import Slo
from opsdash.alerts.services import Raised, open_or_keep
from tests.alerts.conftest import send, spread


@pytest.fixture
def slos(rollups, acme, globex):
    now = timezone.now()
    start = now - dt.timedelta(hours=2)
    # acme on /chat: 100 requests, 2 failed, 10 slower than a second.
    send(
        spread(start, now, 88, latency_ms=200.0)
        + spread(start, now, 10, latency_ms=2000.0)
        + spread(start, now, 2, status="error", latency_ms=150.0)
    )
    return {
        # 5 % may fail (2 % did: 60 % of the budget left); 20 % may be slow (10 % were: 50 % left).
        "all": Slo.objects.create(
            route="/chat", latency_percentile=80, latency_target_ms=1000, error_rate_target_pct=5
        ),
        "globex": Slo.objects.create(route="/chat", tenant=globex, latency_target_ms=1000),
    }


def panel(response) -> dict[int, object]:  # type: ignore[no-untyped-def]
    return {s.slo.pk: s for s in response.context["slos"]}


def test_it_shows_error_budgets_and_burn_rates_on_the_latency_page(client, carol, slos):
    client.force_login(carol)
    response = client.get(reverse("latency"))
    assert response.status_code == 200
    shown = panel(response)
    assert set(shown) == {slos["all"].pk, slos["globex"].pk}
    status = shown[slos["all"].pk]
    assert status.window.requests == 100
    assert status.error_budget_remaining == pytest.approx(0.6)
    assert status.latency_budget_remaining == pytest.approx(0.5)
    # The last hour: 1 of about 50 failed (2 %) against 5 %.
    assert status.error_burn == pytest.approx(0.4, rel=0.1)
    row = response.content.decode().split(f'data-testid="slo-{slos["all"].pk}"')[1].split("</tr>")[0]
    assert "60 %" in row
    assert "50 %" in row
    assert "p80 ≤ 1,000 ms, ≤ 5 % errors, 30 days" in row
    # globex sent nothing on the route: no numbers rather than made-up ones.
    assert shown[slos["globex"].pk].error_budget_remaining is None


def test_it_draws_the_slo_line_when_the_route_has_one_slo(client, carol, slos):
    client.force_login(carol)
    one = client.get(reverse("latency"), {"route": "/chat", "tenant": "acme"})
    assert panel(one) == {}
    assert "SLO 1,000 ms" not in json.dumps(one.context["quantiles"])
    slos["globex"].delete()
    response = client.get(reverse("latency"), {"route": "/chat"})
    assert list(panel(response)) == [slos["all"].pk]
    assert "SLO 1,000 ms" in json.dumps(response.context["quantiles"])


def test_it_shows_a_scoped_user_only_their_tenants_slos(client, dave, slos):
    client.force_login(dave)
    response = client.get(reverse("latency"))
    # The SLO over every tenant would show other tenants' numbers.
    assert set(panel(response)) == {slos["globex"].pk}


def test_it_puts_open_alerts_and_the_lowest_slo_budget_on_the_overview(client, carol, slos, acme):
    open_or_keep(
        Raised(
            rule="budget.daily", subject="tenant:1", severity="critical", title="t", detail="", path="/", tenant=acme
        )
    )
    client.force_login(carol)
    page = client.get(reverse("overview")).content.decode()
    alerts_tile = page.split('data-testid="tile-alerts"')[1].split("</a>")[0]
    assert '<span class="tile-value">1</span>' in alerts_tile
    assert "1 critical" in alerts_tile
    slo_tile = page.split('data-testid="tile-slo"')[1].split("</a>")[0]
    assert "50 %" in slo_tile
    assert "/chat (all tenants), the lowest of 2 SLOs" in slo_tile
    assert 'href="/alerts/"' in page
