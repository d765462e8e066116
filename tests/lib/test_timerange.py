from __future__ import annotations

import datetime as dt

import pytest

from opsdash.lib.timerange import RangeError, parse_range

NOW = dt.datetime(2026, 11, 23, 14, 37, 12, tzinfo=dt.UTC)


def test_it_defaults_to_the_last_24_hours_on_minute_rollups():
    r = parse_range({}, NOW)
    assert r.preset == "24h"
    assert r.end == dt.datetime(2026, 11, 23, 14, 38, tzinfo=dt.UTC)
    assert r.span == dt.timedelta(hours=24)
    assert r.grain == "minute"
    assert r.step == dt.timedelta(minutes=5)


@pytest.mark.parametrize(
    ("preset", "grain", "step"),
    [
        ("1h", "minute", dt.timedelta(minutes=1)),
        ("7d", "hour", dt.timedelta(hours=1)),
        ("30d", "hour", dt.timedelta(hours=3)),
    ],
)
def test_it_picks_the_grain_by_span(preset, grain, step):
    r = parse_range({"range": preset}, NOW)
    assert (r.grain, r.step) == (grain, step)
    assert r.end >= NOW


def test_long_ranges_end_on_the_next_hour():
    r = parse_range({"range": "7d"}, NOW)
    assert r.end == dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)


def test_it_reads_a_custom_range_in_utc_and_aligns_it():
    r = parse_range({"range": "custom", "from": "2026-11-20T14:10:30", "to": "2026-11-20T16:00+01:00"}, NOW)
    assert r.start == dt.datetime(2026, 11, 20, 14, 10, tzinfo=dt.UTC)
    assert r.end == dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)
    assert r.query() == {"range": "custom", "from": "2026-11-20T14:10", "to": "2026-11-20T15:00"}


def test_the_previous_period_has_the_same_length():
    r = parse_range({"range": "24h"}, NOW)
    assert r.previous().end == r.start
    assert r.previous().span == r.span


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"range": "2w"}, "'range' must be one of 1h, 6h, 24h, 7d, 30d, custom"),
        ({"range": "custom", "from": "2026-11-20"}, "needs both 'from' and 'to'"),
        ({"range": "custom", "from": "yesterday", "to": "2026-11-20"}, "'from' must be a date"),
        ({"range": "custom", "from": "2026-11-20", "to": "2026-11-19"}, "'to' must be after 'from'"),
        ({"range": "custom", "from": "2020-01-01", "to": "2026-01-01"}, "at most 400 days"),
    ],
)
def test_it_explains_bad_ranges(params, message):
    with pytest.raises(RangeError, match=message):
        parse_range(params, NOW)
