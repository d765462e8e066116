"""Long ranges read whole days from the day rollups and only the ragged ends from the hour
rollups: the answers must be exactly those of reading every hour row."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from opsdash.ingest.events import ingest_events
from opsdash.lib.timerange import TimeRange
from opsdash.telemetry import rollups, selectors
from opsdash.telemetry.filters import Filters
from tests.telemetry.factories import make_event, rfc3339, scalar

pytestmark = pytest.mark.django_db(transaction=True)

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def nine_days(empty_raw, acme, globex):
    rng = np.random.default_rng(11)
    events = []
    for i in range(1500):
        ts = NOW - dt.timedelta(minutes=float(rng.uniform(1, 9 * 24 * 60)))
        latency = round(float(rng.lognormal(6, 0.7)), 3)
        events.append(
            make_event(
                "acme" if i % 3 else "globex",
                ts=rfc3339(ts),
                route=["/chat", "/search"][i % 2],
                latency_ms=latency,
                ttft_ms=None if i % 5 == 0 else round(latency * 0.25, 3),
                status="error" if i % 17 == 0 else "ok",
                cost_usd=0.002 * (i % 4),
            )
        )
    assert ingest_events(events).accepted == len(events)
    rollups.rebuild()
    return events


def hour_only(monkeypatch) -> None:
    """Read every range from its own grain's table alone: every hour row, or every minute row."""
    monkeypatch.setattr(selectors, "_coarser", lambda table, grouping: None)


# From 07:30 eight days ago: a ragged first day, seven whole days, a ragged last day.
RANGE = TimeRange((NOW - dt.timedelta(days=8)).replace(hour=7, minute=30, second=0, microsecond=0), NOW, "custom")


def test_it_reads_whole_days_from_the_day_table(nine_days):
    pieces = selectors._pieces(Filters(range=RANGE), rollups.ALL, RANGE.start, RANGE.end)
    midnight = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
    first_day = midnight - dt.timedelta(days=8)
    assert pieces == [
        # The first day from 07:00 is its day row less its first 7 hours (8 rows, not 17).
        ("telemetry_rollup_hour", first_day, first_day.replace(hour=7), -1),
        # Eight whole days and today's row...
        ("telemetry_rollup_day", first_day, midnight + dt.timedelta(days=1), 1),
        # ...less today's hours after the range's end.
        ("telemetry_rollup_hour", NOW, midnight + dt.timedelta(days=1), -1),
    ]
    assert scalar("SELECT count(*) FROM telemetry_rollup_day WHERE grouping = 4") > 0


@pytest.mark.parametrize("by", [None, "tenant", "route"])
def test_it_gives_the_same_totals_and_quantiles_as_hour_rows(nine_days, monkeypatch, by):
    f = Filters(range=RANGE)
    stitched = selectors.totals_by(f, by)
    hour_only(monkeypatch)
    hourly = selectors.totals_by(f, by)
    assert stitched.keys() == hourly.keys()
    for key, totals in stitched.items():
        # A float sum depends on the order it is added in; everything else is exact.
        assert totals.latency_sum_ms == pytest.approx(hourly[key].latency_sum_ms, rel=1e-12)
        assert dataclasses.replace(totals, latency_sum_ms=0) == dataclasses.replace(hourly[key], latency_sum_ms=0)
        assert totals.quantile_values, key
    assert sum(t.requests for t in stitched.values()) == scalar(
        "SELECT count(*) FROM telemetry_event WHERE ts >= %s", [RANGE.start.replace(minute=0)]
    )


def test_it_gives_the_same_time_to_first_token(nine_days, monkeypatch):
    f = Filters(range=RANGE)
    stitched = selectors.quantiles(f, "route", column="ttft")
    hour_only(monkeypatch)
    assert stitched == selectors.quantiles(f, "route", column="ttft")


def test_it_sums_cost_per_tenant_per_day(nine_days, acme):
    f = Filters(range=RANGE)
    s = selectors.series(f, "tenant", ("cost_usd", "requests"), step=dt.timedelta(days=1))
    assert all(t == t.replace(hour=0, minute=0, second=0, microsecond=0) for t in s.steps)
    for i, day in enumerate(s.steps):
        raw_cost = scalar(
            "SELECT coalesce(sum(cost_usd), 0) FROM telemetry_event WHERE tenant_id = %s AND ts >= %s AND ts < %s",
            [acme.pk, day, day + dt.timedelta(days=1)],
        )
        assert s.by_key[acme.pk]["cost_usd"][i] == pytest.approx(float(raw_cost), abs=1e-9), day


def test_it_keeps_hour_steps_on_the_hour_table(nine_days, monkeypatch):
    f = Filters(range=RANGE)
    ax = selectors.axis(f, rollups.ALL)
    pieces = selectors._pieces(f, rollups.ALL, ax.origin, RANGE.end, ax.origin, ax.step)
    assert [table for table, _, _, _ in pieces] == ["telemetry_rollup_hour"]
    stitched = selectors.quantiles(f, per_step=True)
    hour_only(monkeypatch)
    assert stitched == selectors.quantiles(f, per_step=True)


# The last day from 14:37 yesterday, on the minute grain: whole hours from the hour table.
DAY_RANGE = TimeRange(NOW - dt.timedelta(hours=23, minutes=23), NOW, "custom")


@pytest.mark.parametrize("by", [None, "tenant", "route"])
def test_it_reads_whole_hours_of_a_short_range_from_the_hour_table(nine_days, monkeypatch, by):
    f = Filters(range=DAY_RANGE)
    pieces = selectors._pieces(f, f.grouping(by), DAY_RANGE.start, DAY_RANGE.end)
    # The first ragged hour from the minute table (its minutes, or its hour row less the
    # minutes before the start, whichever is fewer rows); whole hours from the hour table;
    # today from the day table (or, for tenant breakdowns, whole days of hour rows), less
    # what lies after now.
    assert pieces[0][0] == "telemetry_rollup_minute"
    coarsest = "telemetry_rollup_day" if f.grouping(by) in rollups.DAY_GROUPINGS else "telemetry_rollup_hour"
    assert (coarsest, 1) in [(table, sign) for table, _, _, sign in pieces]
    assert pieces[-1][3] == -1
    assert sum(1 for table, *_ in pieces if table == "telemetry_rollup_minute") <= 2
    stitched = selectors.totals_by(f, by)
    hour_only(monkeypatch)
    by_minute = selectors.totals_by(f, by)
    assert stitched.keys() == by_minute.keys()
    for key, totals in stitched.items():
        assert totals.requests == by_minute[key].requests
        assert totals.cost_usd == by_minute[key].cost_usd
        assert totals.quantile_values == by_minute[key].quantile_values
    assert sum(t.requests for t in stitched.values()) == scalar(
        "SELECT count(*) FROM telemetry_event WHERE ts >= %s", [DAY_RANGE.start.replace(second=0, microsecond=0)]
    )


def test_it_sums_several_windows_in_one_read_as_each_alone(nine_days):
    f = Filters(range=RANGE)
    midnight = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
    windows = {
        "range": (RANGE.start, RANGE.end),
        "today": (midnight, NOW + dt.timedelta(hours=1)),
        "recent": (midnight - dt.timedelta(days=7), midnight),
        "older": (midnight - dt.timedelta(days=8), midnight - dt.timedelta(days=2)),
    }
    together = selectors.totals_in_windows(f, "tenant", windows)
    for name, (start, end) in windows.items():
        alone = selectors.totals_by(f, "tenant", start, end, with_quantiles=False)
        assert together[name].keys() == alone.keys(), name
        for tenant, totals in alone.items():
            got = together[name][tenant]
            assert (got.requests, got.cost_usd, got.errors, got.input_tokens) == (
                totals.requests,
                totals.cost_usd,
                totals.errors,
                totals.input_tokens,
            ), (name, tenant)
    money = selectors.totals_in_windows(f, "tenant", {"today": windows["today"]}, measures=("cost_usd",))
    for tenant, totals in money["today"].items():
        assert totals.cost_usd == together["today"][tenant].cost_usd
        assert totals.requests == 0  # not asked for


def test_it_keeps_a_day_charts_tenant_breakdown_on_the_minute_table(nine_days, globex):
    # The last 24 hours to the minute: the chart's origin goes back to the hour, past the
    # range's start, but the steps are hourly rows of the minute table (tenant × route).
    f = Filters(range=TimeRange(NOW - dt.timedelta(hours=24), NOW, "24h"), scope=frozenset({globex.pk}))
    grouping = f.grouping("route")
    ax = selectors.axis(f, grouping)
    pieces = selectors._pieces(f, grouping, ax.origin, NOW, ax.origin, ax.step)
    assert {table for table, _, _, _ in pieces} == {"telemetry_rollup_minute"}
    hourly = selectors.histograms(f, "route", per_step=True)["latency"]
    counted = scalar(
        "SELECT count(*) FROM telemetry_event WHERE tenant_id = %s AND ts >= %s AND ts < %s",
        [globex.pk, ax.origin, NOW],
    )
    assert int(hourly.dense.sum()) == counted > 0  # every event once, the origin's hour included
    assert len({step for _, step in hourly.slots}) > 12  # hourly steps, not one row a day


def test_the_upgrade_fills_the_day_table_from_the_hour_table(nine_days):
    """Rollups folded before the day table existed are added up from the hour rows."""
    import importlib

    from django.db import connection

    migration = importlib.import_module("opsdash.telemetry.migrations.0003_rollup_day")
    columns = "grouping, tenant_id, bucket, route, model, prompt_id, prompt_version, requests, cost_usd, " \
        "latency_hist_idx, latency_hist_cnt, ttft_hist_idx, ttft_hist_cnt"  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM telemetry_rollup_day ORDER BY 1, 2, 3, 4, 5, 6, 7")
        folded = cursor.fetchall()
        cursor.execute("DELETE FROM telemetry_rollup_day")
        cursor.execute(migration.BACKFILL_SQL)
        cursor.execute(f"SELECT {columns} FROM telemetry_rollup_day ORDER BY 1, 2, 3, 4, 5, 6, 7")
        assert cursor.fetchall() == folded
    assert len(folded) > 20


def test_it_leaves_out_events_stamped_after_the_end_of_a_range_that_reaches_now(nine_days):
    """Today is read as today's day row less the rows after the range's end (events a
    skewed clock stamped ahead, or that came after the end): those must not count."""
    ahead = NOW + dt.timedelta(minutes=4)
    event = make_event("acme", ts=rfc3339(ahead), route="/chat", latency_ms=90000.0, ttft_ms=None, cost_usd=7.0)
    assert ingest_events([event]).accepted == 1
    rollups.rebuild()
    for span, grain in ((dt.timedelta(hours=20), "minute"), (dt.timedelta(days=3), "hour")):
        # Up to the start of the event's minute (or hour): the event is just past the end.
        end = ahead.replace(second=0, microsecond=0, **({"minute": 0} if grain == "hour" else {}))
        f = Filters(range=TimeRange(end - span, end, "custom"))
        pieces = selectors._pieces(f, rollups.ALL, end - span, end)
        if end.date() == NOW.date() and end.time() != dt.time(0):
            # The event lies in a coarser row that is read whole (today, this hour) and is
            # taken out again by exactly one negative piece.
            assert len([lo for _, lo, hi, sign in pieces if sign < 0 and lo <= ahead < hi]) == 1
            assert "telemetry_rollup_day" in [table for table, *_ in pieces]
        window = "ts >= date_trunc(%s, %s::timestamptz) AND ts < %s"
        counted = scalar(f"SELECT count(*) FROM telemetry_event WHERE {window}", [grain, end - span, end])
        cost = scalar(f"SELECT sum(cost_usd) FROM telemetry_event WHERE {window}", [grain, end - span, end])
        got = selectors.totals(f)
        assert (got.requests, got.cost_usd) == (counted, cost), grain
        assert got.quantile(0.99) < 90000
        assert int(selectors.histograms(f)["latency"].dense.sum()) == counted


def test_it_reads_long_ragged_ends_of_past_days_as_the_day_less_the_rest(nine_days, monkeypatch):
    # From 03:00 five days ago to 21:00 yesterday: both ends are most of a day.
    midnight = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
    past = TimeRange(midnight - dt.timedelta(days=5, hours=-3), midnight - dt.timedelta(hours=3), "custom")
    f = Filters(range=past)
    pieces = selectors._pieces(f, rollups.ALL, past.start, past.end)
    assert pieces == [
        ("telemetry_rollup_hour", midnight - dt.timedelta(days=5), past.start, -1),
        ("telemetry_rollup_day", midnight - dt.timedelta(days=5), midnight, 1),
        ("telemetry_rollup_hour", past.end, midnight, -1),
    ]
    stitched = {
        by: (selectors.totals_by(f, by), selectors.quantiles(f, by, column="ttft")) for by in (None, "tenant", "route")
    }
    hour_only(monkeypatch)
    for by, (totals, ttft) in stitched.items():
        hourly = selectors.totals_by(f, by)
        assert {k: (t.requests, t.cost_usd, t.errors, t.quantile_values) for k, t in totals.items()} == {
            k: (t.requests, t.cost_usd, t.errors, t.quantile_values) for k, t in hourly.items()
        }
        assert ttft == selectors.quantiles(f, by, column="ttft")
    counted = scalar("SELECT count(*) FROM telemetry_event WHERE ts >= %s AND ts < %s", [past.start, past.end])
    assert sum(t.requests for t in stitched[None][0].values()) == counted > 0


def test_it_cuts_a_ragged_hour_from_its_hour_row_only_while_its_minutes_are_kept(nine_days, monkeypatch):
    hour = NOW.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=5)
    recent = TimeRange(hour + dt.timedelta(minutes=5), NOW, "custom")
    f = Filters(range=recent)
    pieces = selectors._pieces(f, rollups.ALL, recent.start, recent.end)
    # 5 minute rows to take away from the hour row, rather than 55 to add.
    assert pieces[0] == ("telemetry_rollup_minute", hour, recent.start, -1)
    stitched = selectors.totals_by(f, "route")
    hour_only(monkeypatch)
    assert {k: (t.requests, t.cost_usd, t.quantile_values) for k, t in stitched.items()} == {
        k: (t.requests, t.cost_usd, t.quantile_values) for k, t in selectors.totals_by(f, "route").items()
    }
    monkeypatch.undo()
    # Ten days ago the minute rows are gone (OPSDASH_MINUTE_ROLLUP_DAYS): never cut there.
    old_hour = hour - dt.timedelta(days=10)
    old = TimeRange(old_hour + dt.timedelta(minutes=5), old_hour + dt.timedelta(hours=20), "custom")
    pieces = selectors._pieces(Filters(range=old), rollups.ALL, old.start, old.end)
    assert pieces[0] == ("telemetry_rollup_minute", old.start, old_hour + dt.timedelta(hours=1), 1)


@pytest.mark.parametrize("span", [dt.timedelta(hours=20), dt.timedelta(days=3), dt.timedelta(days=9)])
def test_its_pieces_count_every_minute_of_the_range_once_at_any_time_of_day(span):
    """Whatever the time of day, the signed pieces add up to the range: each minute from
    the range's first bucket to its end counted once, none before or after it counted."""
    day = dt.datetime(2026, 3, 10, tzinfo=dt.UTC)
    for k in range(0, 24 * 60, 23):
        now = day + dt.timedelta(minutes=k, seconds=20)
        for end in (now, now.replace(second=0) - dt.timedelta(minutes=k % 90)):
            start = end - span - dt.timedelta(minutes=k % 50)
            f = Filters(range=TimeRange(start, end, "custom"))
            pieces = selectors._pieces(f, rollups.ALL, start, end, now=now)
            first = selectors._floor(start, selectors.bucket_width(f, rollups.ALL, start, end))
            # Pieces meet on minute boundaries: the middle of each minute stands for it.
            t0 = first.replace(second=30) - dt.timedelta(days=2)
            for i in range(int((span + dt.timedelta(days=4, hours=2)) / dt.timedelta(minutes=1))):
                t = t0 + dt.timedelta(minutes=i)
                net = sum(sign for _, lo, hi, sign in pieces if lo <= t < hi)
                assert net == (1 if first <= t < end else 0), (now, start, end, t, pieces)
