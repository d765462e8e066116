from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDay, TruncHour

from opsdash.accounts.access import scope_queryset
from opsdash.safety.models import SafetyFlag
from opsdash.telemetry.filters import Filters

SEVERITY_ORDER = ["critical", "high", "medium", "low"]


def flags(user: Any, f: Filters) -> QuerySet[SafetyFlag]:
    qs = scope_queryset(user, SafetyFlag.objects.filter(ts__gte=f.range.start, ts__lt=f.range.end))
    if f.tenant is not None:
        qs = qs.filter(tenant=f.tenant)
    if f.route:
        qs = qs.filter(route=f.route)
    return qs


def over_time(
    qs: QuerySet[SafetyFlag], f: Filters
) -> tuple[list[dt.datetime], dict[str, list[int]], dict[str, list[int]]]:
    """Flags per step by kind and by severity, from one aggregation."""
    trunc = TruncHour("ts") if f.range.span <= dt.timedelta(days=7) else TruncDay("ts")
    step = dt.timedelta(hours=1) if f.range.span <= dt.timedelta(days=7) else dt.timedelta(days=1)
    rows = qs.annotate(t=trunc).values("t", "kind", "severity").annotate(n=Count("id")).order_by()
    first = f.range.start.replace(minute=0, second=0, microsecond=0)
    if step == dt.timedelta(days=1):
        first = first.replace(hour=0)
    steps = []
    t = first
    while t < f.range.end:
        steps.append(t)
        t += step
    index = {s: i for i, s in enumerate(steps)}
    by_kind: dict[str, list[int]] = {}
    by_severity: dict[str, list[int]] = {}
    for row in rows:
        i = index.get(row["t"])
        if i is None:
            continue
        by_kind.setdefault(row["kind"], [0] * len(steps))[i] += row["n"]
        by_severity.setdefault(row["severity"], [0] * len(steps))[i] += row["n"]
    return steps, by_kind, by_severity


def top_tenants(qs: QuerySet[SafetyFlag], n: int = 10) -> list[Any]:
    return list(qs.values("tenant__slug").annotate(n=Count("id")).order_by("-n", "tenant__slug")[:n])
