from __future__ import annotations

import numpy as np
import pytest

from tests.dashboards.conftest import raw_stats


def test_it_ranks_routes_by_p95_matching_raw_events(client, alice, traffic):
    client.force_login(alice)
    response = client.get("/latency/?range=24h&by=route")
    assert response.status_code == 200
    exact = raw_stats(group="route")
    rows = {r["key"]: r for r in response.context["slowest"]}
    assert set(rows) == set(exact)
    for route, stats in exact.items():
        assert rows[route]["requests"] == stats["requests"]
        assert rows[route]["p95"] == pytest.approx(stats["p95"], rel=0.02)
    # The slow route is first.
    assert response.context["slowest"][0]["key"] == "/summarize"


def test_routes_with_the_same_p95_are_listed_by_name(client, alice, traffic, monkeypatch):
    import dataclasses

    from opsdash.telemetry import selectors

    read = selectors.totals_by

    def tied(*args, **kwargs):
        # Every route in the same histogram bucket, handed over in reverse order of name.
        totals = read(*args, **kwargs)
        return {
            key: dataclasses.replace(t, quantile_values={**t.quantile_values, 0.95: 512.0})
            for key, t in sorted(totals.items(), reverse=True)
        }

    monkeypatch.setattr(selectors, "totals_by", tied)
    client.force_login(alice)
    response = client.get("/latency/?range=24h&by=route")
    assert [r["key"] for r in response.context["slowest"]] == ["/chat", "/search", "/summarize"]


def test_it_breaks_down_by_model_within_a_tenant(client, alice, traffic):
    client.force_login(alice)
    response = client.get("/latency/?range=24h&by=model&tenant=south")
    exact = raw_stats("t.slug = %s", ["south"], group="model")
    rows = {r["key"]: r for r in response.context["slowest"]}
    for model, stats in exact.items():
        assert rows[model]["requests"] == stats["requests"]
        assert rows[model]["p95"] == pytest.approx(stats["p95"], rel=0.02)


def test_the_heatmap_counts_every_request(client, alice, traffic):
    client.force_login(alice)
    response = client.get("/latency/?range=24h&route=/chat")
    # Colour is log10 of the count; the counts themselves are the hover's customdata.
    counts = np.array(response.context["heatmap"]["data"][0]["customdata"], dtype=float)
    counted = np.nansum(counts)
    assert counted == raw_stats("e.route = %s", ["/chat"])[None]["requests"]


def test_it_refuses_two_narrowing_filters_at_once(client, alice, traffic):
    client.force_login(alice)
    response = client.get("/latency/?route=/chat&model=fast-1")
    assert response.status_code == 400
    assert b"one of route, model or prompt at a time" in response.content


def test_it_says_so_when_nothing_matches(client, alice, traffic):
    client.force_login(alice)
    response = client.get("/latency/?route=/nope")
    assert response.status_code == 200
    assert b"No requests in this range" in response.content


def test_it_reads_a_bounded_number_of_queries(client, alice, traffic, django_assert_max_num_queries):
    client.force_login(alice)
    with django_assert_max_num_queries(20):
        client.get("/latency/?range=30d")


def test_a_month_has_a_column_per_day_with_that_days_requests(client, alice, traffic):
    import datetime as dt

    from tests.dashboards.conftest import raw

    client.force_login(alice)
    response = client.get("/latency/?range=30d")
    heatmap = response.context["heatmap"]["data"][0]
    days = [dt.datetime.fromisoformat(x).replace(tzinfo=dt.UTC) for x in heatmap["x"]]
    assert response.context["chart_step"] == dt.timedelta(days=1)
    assert all(d == d.replace(hour=0, minute=0, second=0) for d in days)
    per_day = dict(raw("SELECT date_trunc('day', ts, 'UTC'), count(*) FROM telemetry_event GROUP BY 1"))
    columns = np.nansum(np.array(heatmap["customdata"], dtype=float), axis=0)
    assert {d: int(n) for d, n in zip(days, columns, strict=True) if n} == per_day
    assert b"Each column is 1 day" in response.content or b"Each column is 1\xc2\xa0day" in response.content
