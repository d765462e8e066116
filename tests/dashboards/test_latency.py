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


# --- Drill-downs: every link and filter the page offers answers -------------------------------

HTMX = {"HX-Request": "true", "HX-Target": "panels"}


def links_of(body: str) -> list[str]:
    """Every href and hx-get of a page, unescaped."""
    import html
    import re

    return [html.unescape(m) for m in re.findall(r'(?:href|hx-get)="([^"]*)"', body)]


def query_of(link: str) -> dict[str, list[str]]:
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(link).query, keep_blank_values=True)


@pytest.mark.parametrize("by", ["route", "model", "prompt"])
def test_it_answers_every_slowest_row_link_with_that_subject_alone(client, alice, traffic, by):
    client.force_login(alice)
    response = client.get(f"/latency/?range=24h&by={by}")
    assert response.status_code == 200
    rows = response.context["slowest"]
    assert rows
    column = {"route": "e.route = %s", "model": "e.model = %s"}
    for row in rows:
        query = query_of(f"?{row['query']}")
        # The link keeps the breakdown the user chose and names the row once.
        assert query["by"] == [by]
        assert query[by] == [str(row["key"])]
        for link in (f"/latency/?{row['query']}",):
            narrowed = client.get(link)
            assert narrowed.status_code == 200, (link, narrowed.content[:300])
            assert getattr(narrowed.context["filters"], by) == str(row["key"])
            # The heatmap counts that subject's requests only.
            counts = np.array(narrowed.context["heatmap"]["data"][0]["customdata"], dtype=float)
            if by in column:
                assert np.nansum(counts) == raw_stats(column[by], [str(row["key"])])[None]["requests"]
            else:
                prompt_id, _, version = str(row["key"]).partition("@")
                where = "e.prompt_id = %s AND e.prompt_version = %s"
                assert np.nansum(counts) == raw_stats(where, [prompt_id, version])[None]["requests"]
            # The same link through htmx (as the row's hx-get) answers too.
            assert client.get(link, headers=HTMX).status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "model=fast-1",
        "prompt=answer@v2",
        "prompt=answer",
        "route=/chat",
        "by=model&route=/chat",
        "by=prompt&model=big-2",
    ],
)
def test_it_answers_the_model_and_prompt_boxes_whatever_the_breakdown(client, alice, traffic, query):
    client.force_login(alice)
    response = client.get(f"/latency/?range=24h&{query}")
    assert response.status_code == 200
    body = response.content.decode()
    assert "These filters cannot be used" not in body
    # No breakdown by another dimension is there to read: the page says so and offers to clear the filter.
    off = response.context["breakdown_off"]
    assert f"Clear the {off['filter']} filter" in body
    cleared = client.get(f"/latency/?{off['clear']}")
    assert cleared.status_code == 200
    assert cleared.context["filters"].narrowed_by is None
    # The breakdown the user chose comes back once the filter is cleared.
    assert cleared.context["by"] == (query_of(f"?{query}").get("by") or ["route"])[0]
    assert cleared.context["slowest"]


def test_it_narrows_the_page_to_the_model_typed_in_the_box(client, alice, traffic):
    client.force_login(alice)
    response = client.get("/latency/?range=24h&model=big-2", headers=HTMX)
    assert response.status_code == 200
    counts = np.array(response.context["heatmap"]["data"][0]["customdata"], dtype=float)
    assert np.nansum(counts) == raw_stats("e.model = %s", ["big-2"])[None]["requests"]


def test_it_keeps_one_key_per_filter_in_every_link_of_the_page(client, alice, traffic):
    client.force_login(alice)
    for url in (
        "/latency/?range=7d&tenant=south&by=model",
        "/latency/?range=24h&tenant=north&by=prompt&model=fast-1",
        "/latency/?range=24h&tenant=north&route=/chat",
    ):
        body = client.get(url).content.decode()
        for link in links_of(body):
            query = query_of(link)
            repeated = [key for key, values in query.items() if len(values) > 1]
            assert not repeated, f"{link} on {url} repeats {repeated}"


def test_it_keeps_the_breakdown_in_the_filter_bar_and_tabs(client, alice, traffic):
    client.force_login(alice)
    body = client.get("/latency/?range=7d&tenant=south&by=model", headers=HTMX).content.decode()
    # The bar comes back out of band with the breakdown as a hidden field and the tenant chosen.
    bar = body[body.index('<form method="get" class="filters" id="filters"') :]
    assert 'hx-swap-oob="true"' in bar[: bar.index(">")]
    assert '<input type="hidden" name="by" value="model">' in bar
    assert '<option value="south" selected>' in bar
    tabs = [link for link in links_of(body) if "by=" in link and "model=" not in link and "route=" not in link]
    assert {query_of(t)["by"][0] for t in tabs} >= {"route", "model", "prompt"}
    assert all(query_of(t)["tenant"] == ["south"] and query_of(t)["range"] == ["7d"] for t in tabs)
