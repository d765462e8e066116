"""The rollups as they should be: an aggregation of the stored raw events, in Python."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.db import connection

from opsdash.lib import histogram
from opsdash.telemetry import rollups
from opsdash.telemetry.models import Event

EXACT = (
    "requests",
    "ok",
    "errors",
    "timeouts",
    "rate_limited",
    "blocked",
    "cache_hits",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "cost_unknown",
    "safety_flags",
)
STATUS_COLUMN = {
    "ok": "ok",
    "error": "errors",
    "timeout": "timeouts",
    "rate_limited": "rate_limited",
    "blocked": "blocked",
}


def _key(grouping: int, event: Event, bucket: dt.datetime) -> tuple:
    dims = rollups.GROUPINGS[grouping]
    return (
        grouping,
        event.tenant_id if "tenant" in dims else 0,
        bucket,
        event.route if "route" in dims else "",
        event.model if "model" in dims else "",
        (event.prompt_id or "") if "prompt" in dims else "",
        (event.prompt_version or "") if "prompt" in dims else "",
    )


def _bucket(grain: str, grouping: int, minute: dt.datetime) -> dt.datetime:
    """The row an event lands in: the grain, or one step coarser for tenant breakdowns."""
    unit = rollups.COARSER[grain] if grouping in rollups.COARSE_GROUPINGS else grain
    if unit == "minute":
        return minute
    if unit == "hour":
        return minute.replace(minute=0)
    return minute.replace(hour=0, minute=0)


def expected(grain: str, since: dt.datetime | None = None) -> dict[tuple, dict]:
    rows: dict[tuple, dict] = defaultdict(
        lambda: {
            **dict.fromkeys(EXACT, 0),
            "cost_usd": Decimal(0),
            "latency_sum_ms": 0.0,
            "latency": defaultdict(int),
            "ttft": defaultdict(int),
        }
    )
    for event in Event.objects.all():
        minute = event.ts.replace(second=0, microsecond=0)
        if since is not None and minute < since:
            continue
        for grouping in rollups.groupings_in(grain):
            row = rows[_key(grouping, event, _bucket(grain, grouping, minute))]
            row["requests"] += 1
            row[STATUS_COLUMN[event.status]] += 1
            row["cache_hits"] += event.cache_hit
            row["input_tokens"] += event.input_tokens
            row["output_tokens"] += event.output_tokens
            if event.cost_usd is None:
                row["cost_unknown"] += 1
            else:
                row["cost_usd"] += event.cost_usd
            row["safety_flags"] += event.safety_count
            row["latency_sum_ms"] += event.latency_ms
            row["latency"][histogram.bucket_of(event.latency_ms)] += 1
            if event.ttft_ms is not None:
                row["ttft"][histogram.bucket_of(event.ttft_ms)] += 1
    for row in rows.values():
        row["latency"] = dict(row["latency"])
        row["ttft"] = dict(row["ttft"])
    return dict(rows)


def actual(grain: str) -> dict[tuple, dict]:
    table = rollups.GRAINS[grain]
    columns = [
        *rollups.KEY_COLUMNS,
        *EXACT,
        "latency_sum_ms",
        "latency_hist_idx",
        "latency_hist_cnt",
        "ttft_hist_idx",
        "ttft_hist_cnt",
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM {table}")
        fetched = cursor.fetchall()
    rows = {}
    for values in fetched:
        record = dict(zip(columns, values, strict=True))
        key = tuple(record[c] for c in rollups.KEY_COLUMNS)
        for name in ("latency", "ttft"):
            idx, cnt = record.pop(f"{name}_hist_idx"), record.pop(f"{name}_hist_cnt")
            assert idx == sorted(idx), "histogram indices must be sorted"
            assert 0 not in cnt, "histograms keep non-empty buckets only"
            record[name] = dict(zip(idx, cnt, strict=True))
        for column in rollups.KEY_COLUMNS:
            record.pop(column)
        rows[key] = record
    return rows


def assert_rollups_match_raw(minute_since: dt.datetime | None = None) -> None:
    for grain in ("minute", "hour", "day"):
        want = expected(grain, minute_since if grain == "minute" else None)
        got = actual(grain)
        assert set(got) == set(want), (
            f"{grain}: keys differ: missing {set(want) - set(got)}, extra {set(got) - set(want)}"
        )
        for key, row in want.items():
            have = got[key]
            for column in (*EXACT, "latency", "ttft"):
                assert have[column] == row[column], (grain, key, column, have[column], row[column])
            assert abs(have["latency_sum_ms"] - row["latency_sum_ms"]) <= 1e-6 * max(1.0, row["latency_sum_ms"])
