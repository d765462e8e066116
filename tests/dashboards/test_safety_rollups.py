"""Flags per hour and day (the safety charts, top tenants and open-flag tiles over long
ranges): the same counts as counting the flags, however they were written or resolved."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone

from opsdash.safety.models import SafetyFlag
from opsdash.tenants.models import Tenant

KINDS = ["jailbreak", "pii", "toxicity"]
SEVERITIES = ["low", "medium", "high", "critical"]


@pytest.fixture
def many_flags(db, traffic):
    """900 flags over 12 days for north and south, some resolved."""
    rng = np.random.default_rng(5)
    now = timezone.now()
    north, south = Tenant.objects.get(slug="north"), Tenant.objects.get(slug="south")
    flags = [
        SafetyFlag(
            tenant=north if i % 3 else south, ts=now - dt.timedelta(minutes=float(rng.uniform(1, 12 * 24 * 60))),
            event_id=f"e{i}", kind=KINDS[i % 3], severity=SEVERITIES[i % 4], route="/chat",
            resolved_at=now if i % 5 == 0 else None,
        )
        for i in range(900)
    ]  # fmt: skip
    SafetyFlag.objects.bulk_create(flags)
    return flags


def rollup(table: str) -> set[tuple[object, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT bucket, tenant_id, kind, severity, flags, open_flags FROM {table} WHERE flags <> 0")
        return set(cursor.fetchall())


def counted(unit: str) -> set[tuple[object, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT date_trunc('{unit}', ts, 'UTC'), tenant_id, kind, severity, count(*), "
            "count(*) FILTER (WHERE resolved_at IS NULL) FROM safety_safetyflag GROUP BY 1, 2, 3, 4"
        )
        return set(cursor.fetchall())


def test_it_keeps_the_hourly_and_daily_counts_of_the_flags(many_flags):
    assert rollup("safety_flag_hour") == counted("hour")
    assert rollup("safety_flag_day") == counted("day")
    # Resolving, moving and deleting flags keep them right.
    SafetyFlag.objects.filter(resolved_at=None, kind="pii").update(resolved_at=timezone.now())
    SafetyFlag.objects.filter(kind="toxicity", severity="low").update(severity="medium")
    SafetyFlag.objects.filter(event_id__endswith="7").delete()
    assert rollup("safety_flag_hour") == counted("hour")
    assert rollup("safety_flag_day") == counted("day")


def test_the_safety_page_counts_long_ranges_from_the_rollups_as_the_flags_do(client, alice, many_flags):
    client.force_login(alice)
    response = client.get("/safety/?range=30d")
    start = response.context["filters"].range.start
    in_range = [f for f in many_flags if f.ts >= start]
    assert response.context["total"] == len(in_range) == 900
    by_kind = {k: sum(1 for f in in_range if f.kind == k) for k in KINDS}
    assert response.context["kinds"] == sorted(by_kind, key=lambda k: (-by_kind[k], k))
    north = sum(1 for f in in_range if f.tenant.slug == "north")
    assert response.context["top_tenants"][:2] == [
        {"tenant__slug": "north", "n": north},
        {"tenant__slug": "south", "n": len(in_range) - north},
    ]
    # Daily bars: each day's count is that day's flags.
    figure = response.context["by_kind"]
    days = [dt.datetime.fromisoformat(x) for x in figure["data"][0]["x"]]
    totals = np.sum([trace["y"] for trace in figure["data"]], axis=0)
    for day, total in zip(days, totals, strict=True):
        day = day.replace(tzinfo=dt.UTC)
        assert total == sum(1 for f in in_range if day <= f.ts < day + dt.timedelta(days=1)), day


def test_the_rollups_answer_the_7_day_range_hour_by_hour(client, alice, many_flags):
    client.force_login(alice)
    response = client.get("/safety/?range=7d")
    start = response.context["filters"].range.start
    in_range = [f for f in many_flags if f.ts >= start]
    assert response.context["total"] == len(in_range)
    figure = response.context["by_severity"]
    hours = [dt.datetime.fromisoformat(x).replace(tzinfo=dt.UTC) for x in figure["data"][0]["x"]]
    assert hours[1] - hours[0] == dt.timedelta(hours=1)
    for trace in figure["data"]:
        severity = trace["name"]
        for hour, n in zip(hours, trace["y"], strict=True):
            expected = sum(
                1 for f in in_range if f.severity == severity and hour <= f.ts < hour + dt.timedelta(hours=1)
            )
            assert n == expected, (severity, hour)


def test_a_scoped_viewer_counts_only_their_tenants_flags(client, southie, many_flags):
    client.force_login(southie)
    response = client.get("/safety/?range=30d")
    assert response.context["total"] == sum(1 for f in many_flags if f.tenant.slug == "south")
    assert [row["tenant__slug"] for row in response.context["top_tenants"]] == ["south"]
    overview = client.get("/?range=30d")
    assert overview.context["open_flags"] == sum(
        1 for f in many_flags if f.tenant.slug == "south" and f.resolved_at is None
    )


def test_the_overview_counts_open_flags_over_long_ranges(client, alice, many_flags):
    client.force_login(alice)
    week = client.get("/?range=7d")
    start = week.context["filters"].range.start
    assert week.context["open_flags"] == sum(1 for f in many_flags if f.resolved_at is None and f.ts >= start)
    assert client.get("/?range=30d").context["open_flags"] == sum(1 for f in many_flags if f.resolved_at is None)
