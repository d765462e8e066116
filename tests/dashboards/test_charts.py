"""What the charts show an on-call engineer: the demo's latency incident stands out in the
heatmap, error rates per route and model match the events, every named series keeps its
colour whatever the range, every time axis says UTC, and ranked lists have one order."""

from __future__ import annotations

import dataclasses
import datetime as dt
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import numpy as np
import pytest

from opsdash.core.demo.generator import DemoSizes, generate
from opsdash.lib import histogram
from opsdash.lib.plotting import DISTINCT, OTHER_COLOUR, colour_for
from opsdash.safety import charts as safety_charts
from opsdash.telemetry.selectors import Totals
from opsdash.web import charts, dashboards
from tests.dashboards.conftest import raw

ANCHOR = datetime(2026, 11, 18, 14, 0, tzinfo=UTC)
HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def demo():
    """The demo as `make demo` generates it (same sizes), in memory."""
    return generate(42, ANCHOR, DemoSizes())


def heatmap_matrix(demo, days: int) -> tuple[list[datetime], np.ndarray]:
    """Requests per hour and display row over the last ``days``, binned as the rollups and
    selectors.heatmap_counts bin them."""
    cols = demo.events.cols
    end_ms = int(ANCHOR.timestamp() * 1000)
    start_ms = end_ms - days * 24 * HOUR_MS
    inside = cols["ts"] >= start_ms
    step = (cols["ts"][inside] - start_ms) // HOUR_MS
    fine = histogram.bucket_index(cols["latency"][inside]).astype(np.int64)
    rows = (histogram.LOG_BUCKETS + charts.HEATMAP_MERGE - 1) // charts.HEATMAP_MERGE + 2
    row = np.where(fine == 0, 0, np.where(fine >= histogram.OVERFLOW, rows - 1, (fine - 1) // charts.HEATMAP_MERGE + 1))
    matrix = np.zeros((days * 24, rows), dtype=np.int64)
    np.add.at(matrix, (step, row), 1)
    steps = [datetime.fromtimestamp((start_ms + i * HOUR_MS) / 1000, UTC) for i in range(days * 24)]
    return steps, matrix


def colour_values(trace: dict) -> np.ndarray:
    """Where each cell sits on the colour scale, 0 (darkest) to 1 (brightest); NaN: blank."""
    z = np.array(trace["z"], dtype=float)
    return np.clip((z - trace["zmin"]) / (trace["zmax"] - trace["zmin"]), 0, 1)


def lower_edge_ms(label: str) -> float:
    if label.startswith("<"):
        return 0.0
    return float(label.removeprefix("≥ ").split("–")[0].replace(",", ""))


@pytest.mark.parametrize("days", [1, 7])
def test_it_makes_the_demo_latency_incident_stand_out_in_the_heatmap(demo, days):
    steps, matrix = heatmap_matrix(demo, days)
    trace = charts.latency_heatmap(steps, matrix)["data"][0]
    colour = colour_values(trace)
    counts = np.array(trace["customdata"], dtype=float)
    incident = demo.story.incident
    columns = [i for i, t in enumerate(steps) if incident.start_ms <= t.timestamp() * 1000 < incident.end_ms]
    slow_rows = [r for r, label in enumerate(trace["y"]) if lower_edge_ms(label) >= 20_000]
    band = counts[np.ix_(slow_rows, columns)]
    cells = colour[np.ix_(slow_rows, columns)][np.nan_to_num(band) >= 5]
    assert demo.story.incident_route == "/chat/answer"
    assert cells.size >= 6, "the incident's slow requests fill a band of cells"
    busy = np.nanpercentile(colour, 95)
    # The slow band reads in the upper half of the scale, near the busy fast cells...
    assert np.median(cells) >= 0.5
    assert np.median(cells) >= 0.6 * busy
    # ...where a linear scale (count / busiest cell) put it near the bottom.
    assert np.median(band[np.nan_to_num(band) >= 5]) / np.nanmax(counts) < 0.35
    # Outside the incident, the same latencies stay dark or blank.
    others = [i for i in range(len(steps)) if i not in columns]
    assert np.nanmean(np.nan_to_num(colour[np.ix_(slow_rows, others)])) < 0.05


def test_one_outlier_does_not_set_the_heatmap_scale():
    steps = [ANCHOR + dt.timedelta(hours=h) for h in range(24)]
    rng = np.random.default_rng(1)
    matrix = np.zeros((24, 70), dtype=np.int64)
    matrix[:, 30:40] = rng.integers(5, 40, (24, 10))
    calm = colour_values(charts.latency_heatmap(steps, matrix)["data"][0])
    matrix[3, 35] = 1_000_000
    spiked = charts.latency_heatmap(steps, matrix)["data"][0]
    others = np.ones_like(calm, dtype=bool)
    # (the trace's rows start one below the first used row)
    others[35 - 29, 3] = False
    assert np.allclose(colour_values(spiked)[others], calm[others], atol=0.05, equal_nan=True)
    assert spiked["customdata"][35 - 29][3] == 1_000_000  # the hover still tells the count


def test_the_heatmap_hover_and_axes_speak_ms_and_utc():
    steps = [ANCHOR + dt.timedelta(hours=h) for h in range(3)]
    matrix = np.zeros((3, 70), dtype=np.int64)
    matrix[1, 60] = 7
    figure = charts.latency_heatmap(steps, matrix)
    trace = figure["data"][0]
    assert "UTC" in trace["hovertemplate"]
    assert "%{customdata:,} requests" in trace["hovertemplate"]
    assert figure["layout"]["xaxis"]["title"]["text"] == "time (UTC)"
    assert figure["layout"]["yaxis"]["title"]["text"] == "latency (ms)"
    # Band edges in ms, as the axis title says, with no other unit among them.
    assert all(
        label.replace(",", "").replace("–", "").replace(".", "").replace("≥ ", "").replace("< ", "").isdigit()
        for label in trace["y"]
    )
    assert "ms<br>" in trace["hovertemplate"]


def time_figures() -> list[dict]:
    steps = [ANCHOR + dt.timedelta(hours=h) for h in range(3)]
    return [
        charts.quantile_lines(steps, {"p95": [1.0, 2.0, 3.0]}),
        charts.error_rate_lines(steps, {"gpt-4o": [0.1, None, 0.2]}, {"gpt-4o": [10, 0, 5]}, "model"),
        charts.stacked_cost(steps, {"acme": np.ones(3)}),
        safety_charts.stacked(steps, {"jailbreak": [1, 2, 3]}, "flags"),
        charts.latency_heatmap(steps, np.ones((3, 70), dtype=np.int64)),
    ]


@pytest.mark.parametrize("figure", time_figures(), ids=["quantiles", "errors", "cost", "safety", "heatmap"])
def test_every_time_axis_is_titled_and_in_utc(figure):
    xaxis = figure["layout"]["xaxis"]
    assert "UTC" in xaxis["title"]["text"]
    assert "UTC" in xaxis.get("hoverformat", "") or all("UTC" in t["hovertemplate"] for t in figure["data"])
    assert figure["layout"]["yaxis"]["title"]["text"]


def test_sparklines_have_no_toolbar_and_say_utc():
    spark = charts.sparkline([ANCHOR, ANCHOR + dt.timedelta(hours=1)], [1.0, 2.0])
    assert spark["config"]["displayModeBar"] is False
    assert "UTC" in spark["data"][0]["hovertemplate"]


# --- Colours ----------------------------------------------------------------------------------


def colours(figure: dict) -> dict[str, str]:
    out = {}
    for trace in figure["data"]:
        marker = trace.get("marker", {}).get("color")
        out[trace["name"]] = marker if isinstance(marker, str) else trace["line"]["color"]
    return out


def test_the_palette_has_at_least_twelve_distinct_colours_and_none_is_the_grey_of_other():
    assert len(set(DISTINCT)) == len(DISTINCT) >= 12
    assert OTHER_COLOUR not in DISTINCT
    assert colour_for("other") == colour_for("other tenants") == OTHER_COLOUR


def test_a_kind_keeps_its_colour_whatever_else_the_range_holds():
    steps = [ANCHOR]
    day = colours(safety_charts.stacked(steps, {"jailbreak": [9], "pii": [1]}, "flags"))
    week = colours(safety_charts.stacked(steps, {"pii": [90], "toxicity": [50], "jailbreak": [3]}, "flags"))
    month = colours(
        safety_charts.stacked(steps, {"toxicity": [500], "spam": [70], "pii": [400], "jailbreak": [9]}, "flags")
    )
    assert day["jailbreak"] == week["jailbreak"] == month["jailbreak"]
    assert day["pii"] == week["pii"] == month["pii"]
    assert week["toxicity"] == month["toxicity"]
    assert len(set(month.values())) == 4


def test_severities_have_fixed_colours():
    steps = [ANCHOR]
    one = colours(safety_charts.stacked(steps, {"high": [1]}, "flags", safety_charts.SEVERITY_COLOURS))
    two = colours(safety_charts.stacked(steps, {"critical": [1], "high": [5]}, "flags", safety_charts.SEVERITY_COLOURS))
    assert one["high"] == two["high"] == safety_charts.SEVERITY_COLOURS["high"]
    assert two["critical"] != two["high"]


def test_a_model_keeps_its_colour_and_other_is_grey_in_the_error_rate_chart():
    steps = [ANCHOR]
    day = colours(
        charts.error_rate_lines(steps, {"gpt-4o": [0.1], "other": [0.0]}, {"gpt-4o": [1], "other": [1]}, "model")
    )
    names = ["claude-sonnet-4", "gemini-2.0-flash", "gpt-4o", "other"]
    week = colours(charts.error_rate_lines(steps, {n: [0.1] for n in names}, {n: [1] for n in names}, "model"))
    assert day["gpt-4o"] == week["gpt-4o"]
    assert day["other"] == week["other"] == OTHER_COLOUR


def test_lines_that_share_a_colour_differ_by_dash():
    names = [f"/route/{i}" for i in range(len(DISTINCT) + 3)]
    styles = charts.line_styles(names)
    seen = {(s["color"], s["dash"]) for s in styles.values()}
    assert len(seen) == len(names)


def test_tenants_created_one_after_another_get_different_colours():
    assert len({charts.tenant_colour(pk) for pk in range(1, 13)}) == 12


def test_tenants_and_models_keep_their_colours_at_24_hours_7_and_30_days(client, alice, traffic):
    client.force_login(alice)
    seen: dict[str, set[str]] = {}
    for range_ in ("24h", "7d", "30d"):
        cost = client.get(f"/cost/?range={range_}").context
        latency = client.get(f"/latency/?range={range_}").context
        for figure in (cost["stacked"], latency["errors_by_model"], latency["errors_by_route"]):
            for name, colour in colours(figure).items():
                seen.setdefault(name, set()).add(colour)
    assert {"north", "south", "fast-1", "big-2", "/chat"} <= set(seen)
    assert all(len(c) == 1 for c in seen.values()), seen


# --- Error rate over time -------------------------------------------------------------------


@pytest.mark.parametrize("by", ["route", "model"])
def test_the_error_rate_chart_counts_the_failed_requests_of_each_key(client, alice, traffic, by):
    client.force_login(alice)
    figure = client.get("/latency/?range=24h").context[f"errors_by_{by}"]
    failed = {}
    for trace in figure["data"]:
        rates = np.array([np.nan if y is None else y for y in trace["y"]], dtype=float) / 100
        requests = np.array(trace["customdata"], dtype=float)
        failed[trace["name"]] = round(float(np.nansum(rates * requests)))
    expected = dict(
        raw(f"SELECT {by}, count(*) FILTER (WHERE status IN ('error', 'timeout')) FROM telemetry_event GROUP BY 1")
    )
    assert failed == expected
    assert figure["layout"]["yaxis"]["ticksuffix"] == " %"


def test_the_error_rate_chart_keeps_the_keys_with_most_failures():
    failed = {f"/r{i}": float(i) for i in range(10)}
    requests = dict.fromkeys(failed, 100.0)
    assert dashboards.rank_failing(failed, requests, 3) == ["/r9", "/r8", "/r7"]


def test_keys_with_as_many_failures_rank_by_requests_then_name():
    failed = {"b": 5.0, "a": 5.0, "c": 5.0, "d": 0.0}
    requests = {"a": 10.0, "b": 10.0, "c": 50.0, "d": 1000.0}
    assert dashboards.rank_failing(failed, requests, 6) == ["c", "a", "b"]


def test_narrowed_to_a_route_the_page_says_why_there_is_no_rate_by_model(client, alice, traffic):
    client.force_login(alice)
    response = client.get("/latency/?range=24h&route=/chat")
    assert response.status_code == 200
    assert response.context["errors_by_model"] is None
    assert [t["name"] for t in response.context["errors_by_route"]["data"]] == ["/chat"]
    assert b"Shown without a route filter" in response.content


# --- Tie order ------------------------------------------------------------------------------


def test_models_with_the_same_cost_are_ranked_by_requests_then_name():
    by_model = {
        "zeta": Totals(requests=5, cost_usd=Decimal("2.50")),
        "alpha": Totals(requests=5, cost_usd=Decimal("2.50")),
        "mid": Totals(requests=9, cost_usd=Decimal("2.50")),
        "top": Totals(requests=1, cost_usd=Decimal("9")),
    }
    assert [name for name, _ in dashboards.rank_models(by_model)] == ["top", "mid", "alpha", "zeta"]


def test_tenants_that_used_as_much_of_a_budget_are_ranked_by_slug():
    def row(slug, today, month):
        return {"tenant": SimpleNamespace(slug=slug), "used_today": today, "used": month}

    table = [row("b", 0.5, 1.2), row("a", 1.2, 0.1), row("c", None, None), row("d", 2.08, 0.4), row("e", None, 0.3)]
    assert [r["tenant"].slug for r in dashboards.rank_budget_use(table, 10)] == ["d", "a", "b", "e"]


def test_the_cost_page_lists_models_with_equal_cost_by_name(client, alice, traffic, monkeypatch):
    from opsdash.telemetry import selectors

    read = selectors.totals_by

    def tied(f, by=None, *args, **kwargs):
        totals = read(f, by, *args, **kwargs)
        if by != "model":
            return totals
        # Every model at the same cost and requests, handed over in reverse order of name.
        return {
            k: dataclasses.replace(t, cost_usd=Decimal("1.00"), requests=10)
            for k, t in sorted(totals.items(), reverse=True)
        }

    monkeypatch.setattr(selectors, "totals_by", tied)
    client.force_login(alice)
    response = client.get("/cost/?range=24h")
    assert [m["model"] for m in response.context["model_rows"]] == ["big-2", "fast-1", "nopricing-3"]


def test_a_tenant_past_its_daily_budget_gets_a_red_bar_and_one_under_a_blue_one():
    chart = charts.budget_bars(["globex", "acme"], [2.08, 0.4], [0.9, None])
    daily, monthly = chart["data"]
    assert daily["marker"]["color"] == [charts.BUDGET_OVER, charts.BUDGET_OK]
    assert daily["text"] == ["208 %", "40 %"]
    assert monthly["x"] == [90.0, None]  # no monthly budget: no bar
    assert chart["layout"]["shapes"][0]["x0"] == 100


def test_a_producers_markup_in_a_name_stays_text_on_every_chart():
    """Plotly draws names and category labels as its own HTML: a route or model name sent
    through ingest must not become a link or bold text."""
    name = '<a href="https://example.invalid">me</a> & co'
    shown = '&lt;a href="https://example.invalid"&gt;me&lt;/a&gt; &amp; co'
    steps = [dt.datetime(2026, 11, 10, h, tzinfo=dt.UTC) for h in range(3)]
    by_model = charts.bars([name], [1.0], "cost (USD)", "$")
    assert by_model["data"][0]["y"] == [shown]
    lines = charts.error_rate_lines(steps, {name: [0.1, 0.2, None]}, {name: [10.0, 10.0, 0.0]}, "model")
    assert lines["data"][0]["name"] == shown
    assert name not in lines["data"][0]["hovertemplate"]
