from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from opsdash.audit.models import AuditEvent
from tests.dashboards.conftest import raw_stats


def test_the_tenant_table_equals_raw_sums(client, alice, traffic):
    client.force_login(alice)
    response = client.get("/cost/?range=24h")
    assert response.status_code == 200
    exact = raw_stats(group="t.slug")
    rows = {r["tenant"].slug: r for r in response.context["tenant_rows"]}
    for slug, stats in exact.items():
        totals = rows[slug]["totals"]
        assert totals.requests == stats["requests"]
        assert totals.cost_usd == stats["cost"]
        assert totals.cost_unknown == stats["unknown"]
        assert totals.input_tokens == stats["input"]
        assert totals.output_tokens == stats["output"]


def test_it_shows_unknown_cost_as_unknown_not_zero(client, alice, traffic):
    client.force_login(alice)
    response = client.get("/cost/?range=24h")
    unknown = raw_stats()[None]["unknown"]
    assert unknown > 0
    assert response.context["unknown_cost_requests"] == unknown
    # A count of requests, said as one, apart from the dollars.
    assert f"{unknown:,} requests unpriced".encode() in response.content
    assert b"unknown</span>" not in response.content
    model_rows = {m["model"]: m["totals"] for m in response.context["model_rows"]}
    assert model_rows["nopricing-3"].cost_usd == Decimal(0)
    assert model_rows["nopricing-3"].cost_unknown == model_rows["nopricing-3"].requests


def test_the_csv_export_has_the_same_numbers_and_is_audited(client, alice, traffic):
    client.force_login(alice)
    response = client.get("/cost/export.csv?range=24h")
    rows = {r["tenant"]: r for r in csv.DictReader(io.StringIO(response.content.decode()))}
    exact = raw_stats(group="t.slug")
    for slug, stats in exact.items():
        assert int(rows[slug]["requests"]) == stats["requests"]
        assert Decimal(rows[slug]["cost_usd_range"]) == stats["cost"].quantize(Decimal("0.000001"))
    assert AuditEvent.objects.filter(action="cost.export", actor=alice).exists()


def test_a_scoped_viewer_sees_and_exports_only_their_tenants(client, southie, traffic):
    client.force_login(southie)
    page = client.get("/cost/?range=24h")
    assert [r["tenant"].slug for r in page.context["tenant_rows"]] == ["south"]
    export = client.get("/cost/export.csv?range=24h").content.decode()
    assert "north" not in export
    assert "south" in export
    assert client.get("/cost/export.csv?tenant=north").status_code == 404


def test_it_reads_a_bounded_number_of_queries(client, alice, traffic, django_assert_max_num_queries):
    client.force_login(alice)
    with django_assert_max_num_queries(25):
        client.get("/cost/?range=30d")


def test_it_pages_the_tenant_table_biggest_spenders_first(client, alice, traffic):
    from opsdash.tenants.models import Tenant

    Tenant.objects.bulk_create(Tenant(slug=f"quiet-{i:02d}", name=f"Quiet {i}") for i in range(53))
    client.force_login(alice)
    first = client.get("/cost/?range=24h")
    slugs = [r["tenant"].slug for r in first.context["page"]]
    assert len(slugs) == 50
    assert set(slugs[:2]) == {"north", "south"}  # the only ones with spend
    assert slugs[2:] == [f"quiet-{i:02d}" for i in range(48)]  # no spend at all: by slug
    assert b"Page 1 of 2" in first.content
    second = client.get("/cost/?range=24h&page=2")
    assert len(second.context["page"]) == 5
    assert {r["tenant"].slug for r in second.context["page"]}.isdisjoint(slugs)
    export = client.get("/cost/export.csv?range=24h")
    assert export.content.decode().count("\n") == 55 + 1  # every tenant and the header


def test_the_stacked_chart_has_the_biggest_spenders_and_the_rest_per_step(client, alice, traffic, monkeypatch):
    import datetime as dt

    import numpy as np

    from opsdash.web import dashboards
    from tests.dashboards.conftest import plotly_array, raw

    monkeypatch.setattr(dashboards, "STACKED_TENANTS", 1)
    client.force_login(alice)
    response = client.get("/cost/?range=24h")
    exact = raw_stats(group="t.slug")
    biggest, rest = sorted(exact, key=lambda slug: -exact[slug]["cost"])
    traces = {trace["name"]: trace for trace in response.context["stacked"]["data"]}
    assert list(traces) == [biggest, "other tenants"]
    steps = [dt.datetime.fromisoformat(x).replace(tzinfo=dt.UTC) for x in traces[biggest]["x"]]
    width = steps[1] - steps[0]
    for name, slug in ((biggest, biggest), ("other tenants", rest)):
        per_step = dict(
            raw(
                "SELECT date_bin(%s, e.ts, %s), sum(e.cost_usd) FROM telemetry_event e "
                "JOIN tenants_tenant t ON t.id = e.tenant_id WHERE t.slug = %s AND e.ts >= %s GROUP BY 1",
                [width, steps[0], slug, steps[0]],
            )
        )
        expected = [float(per_step.get(step) or 0) for step in steps]
        assert np.allclose(plotly_array(traces[name]["y"]), expected, atol=1e-9), name


def test_it_ranks_by_spend_in_the_range_when_the_month_has_just_begun(alice, traffic):
    import datetime as dt

    from django.utils import timezone

    from opsdash.lib.timerange import TimeRange
    from opsdash.telemetry.filters import Filters
    from opsdash.tenants.models import Tenant
    from opsdash.web.dashboards import tenant_cost_table

    Tenant.objects.bulk_create(Tenant(slug=f"idle-{i}", name=f"Idle {i}") for i in range(3))
    now = timezone.now()
    # Minutes into the next month: no one has spent anything this month yet.
    month_start = (now.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=32)).replace(day=1)
    rows = tenant_cost_table(
        Filters(range=TimeRange(now - dt.timedelta(days=1), now, "custom")), month_start + dt.timedelta(minutes=5)
    )
    assert all(r["month"] == 0 for r in rows)
    exact = raw_stats(group="t.slug")
    by_range = sorted(exact, key=lambda slug: -exact[slug]["cost"])
    assert [r["tenant"].slug for r in rows] == [*by_range, "idle-0", "idle-1", "idle-2"]


def test_it_exports_slugs_that_start_like_a_formula_as_text(client, alice):
    from opsdash.tenants.models import Tenant

    # Stored as the ORM allows; a spreadsheet must still not run any of them.
    slugs = ["=1+2", "+cmd", "-acme", "@sum", "\tx", "\rx"]
    Tenant.objects.bulk_create(Tenant(slug=slug, name=slug) for slug in slugs)
    client.force_login(alice)
    response = client.get("/cost/export.csv?range=24h")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode(), newline="")))
    exported = {r["tenant"] for r in rows}
    assert {"'" + slug for slug in slugs} <= exported
    assert not exported & set(slugs)
    quoted = next(r for r in rows if r["tenant"] == "'-acme")
    assert quoted["requests"] == "0"
    assert quoted["cost_usd_range"] == "0.000000"


def test_it_shows_each_tenants_daily_and_monthly_budget_use_red_past_100_percent(client, alice, traffic):
    client.force_login(alice)
    response = client.get("/cost/?range=24h")
    rows = {r["tenant"].slug: r for r in response.context["tenant_rows"]}
    chart = response.context["budget_chart"]
    daily, monthly = chart["data"]
    assert (daily["name"], monthly["name"]) == ("daily budget", "monthly budget")
    body = response.content.decode()
    for i, slug in enumerate(daily["y"]):
        row = rows[slug]
        assert row["used_today"] == pytest.approx(float(row["today"] / row["daily_budget"]))
        assert daily["x"][i] == pytest.approx(row["used_today"] * 100)
        assert monthly["x"][i] == pytest.approx(row["used"] * 100)
        over = row["used_today"] > 1
        assert (daily["marker"]["color"][i] == "#B3261E") is over
        if over:
            assert f'<strong class="worse">{slug}</strong> ({row["used_today"] * 100:.0f} % of daily budget' in body
    assert "Daily budget used" in body
    assert "Monthly budget used" in body
