from __future__ import annotations

import pytest
from django.utils import timezone

from tests.dashboards.conftest import raw_stats


def test_the_list_shows_spend_p95_and_error_rate_per_tenant(client, alice, traffic):
    client.force_login(alice)
    response = client.get("/tenants/")
    rows = {r["tenant"].slug: r for r in response.context["rows"]}
    exact = raw_stats(group="t.slug")
    for slug in ("north", "south"):
        assert rows[slug]["requests"] == exact[slug]["requests"]
        assert rows[slug]["p95"] == pytest.approx(exact[slug]["p95"], rel=0.02)
        assert rows[slug]["error_rate"] == pytest.approx(exact[slug]["failed"] / exact[slug]["requests"])
    # Month to date against the monthly budget; south's budget is tiny, so its 20 hours
    # of traffic are over it (unless the month began within them).
    month_start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    spent = raw_stats("t.slug = %s AND e.ts >= %s", ["south", month_start]).get(None, {"cost": 0})["cost"]
    assert rows["south"]["monthly_used"] == pytest.approx(float(spent) / 20)
    assert (rows["south"]["monthly_used"] > 1) == (spent > 20)
    # A budget overrun is marked in the list.
    over = any((r["daily_used"] or 0) > 1 or (r["monthly_used"] or 0) > 1 for r in rows.values())
    assert (b"worse" in response.content) == over


def test_the_detail_page_shows_the_tenants_own_numbers(client, alice, traffic):
    client.force_login(alice)
    response = client.get("/tenants/north/")
    assert response.context["row"]["requests"] == raw_stats("t.slug = %s", ["north"])[None]["requests"]


def test_a_scoped_viewer_lists_only_their_tenant(client, southie, traffic):
    client.force_login(southie)
    response = client.get("/tenants/")
    assert [r["tenant"].slug for r in response.context["rows"]] == ["south"]
    assert client.get("/tenants/north/").status_code == 404


def test_it_reads_a_bounded_number_of_queries(client, alice, traffic, django_assert_max_num_queries):
    client.force_login(alice)
    with django_assert_max_num_queries(20):
        client.get("/tenants/")
