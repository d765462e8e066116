"""Reads over safety flags. Ranges of whole hours (over 24 hours) count flags from the
hourly and daily rollups (migration 0002); shorter ranges, to the minute, and a route
filter (the rollups have no route) count the flags themselves by their time index."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from opsdash.accounts.access import scope_queryset
from opsdash.lib import rollup_reads
from opsdash.safety.models import SafetyFlag
from opsdash.telemetry.filters import Filters
from opsdash.tenants import selectors as tenants

SEVERITY_ORDER = ["critical", "high", "medium", "low"]
HOUR_TABLE, DAY_TABLE = "safety_flag_hour", "safety_flag_day"
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)


def flags(user: Any, f: Filters) -> QuerySet[SafetyFlag]:
    qs = scope_queryset(user, SafetyFlag.objects.filter(ts__gte=f.range.start, ts__lt=f.range.end))
    if f.tenant is not None:
        qs = qs.filter(tenant=f.tenant)
    if f.route:
        qs = qs.filter(route=f.route)
    return qs


def reads_rollups(f: Filters) -> bool:
    return f.range.grain == "hour" and not f.route


def _daily(f: Filters) -> bool:
    return f.range.span > dt.timedelta(days=7)


def _steps(f: Filters) -> list[dt.datetime]:
    step = DAY if _daily(f) else HOUR
    t = f.range.start.replace(minute=0, second=0, microsecond=0)
    if step == DAY:
        t = t.replace(hour=0)
    steps = []
    while t < f.range.end:
        steps.append(t)
        t += step
    return steps


def _rung(table: str) -> rollup_reads.Rung | None:
    # Hour rows are kept as long as day rows: any day may be read less some of its hours.
    return rollup_reads.Rung(DAY_TABLE, DAY, HOUR) if table == HOUR_TABLE else None


def _rollup_source(
    f: Filters, origin: dt.datetime | None = None, step: dt.timedelta | None = None
) -> tuple[str, list[Any]]:
    """The flag rollup rows of the range as one subquery, each with its sign as ``sgn``:
    whole days from the day table, the rest from the hour table (see rollup_reads), or
    per ``step`` from ``origin``."""
    parts: list[str] = []
    params: list[Any] = []
    ids = f.tenant_ids()
    pieces = rollup_reads.decompose(HOUR_TABLE, f.range.start, f.range.end, timezone.now(), _rung, origin, step)
    for table, lo, hi, sign in pieces:
        where = "bucket >= %s AND bucket < %s"
        params += [lo, hi]
        if ids is not None:
            where += " AND tenant_id = ANY(%s)"
            params.append(sorted(ids))
        parts.append(f"SELECT *, {sign} AS sgn FROM {table} WHERE {where}")
    return "(" + " UNION ALL ".join(parts) + ") AS r", params


def over_time(
    qs: QuerySet[SafetyFlag], f: Filters
) -> tuple[list[dt.datetime], dict[str, list[int]], dict[str, list[int]]]:
    """Flags per step (hourly up to 7 days, daily beyond) by kind and by severity, from
    one aggregation."""
    steps = _steps(f)
    if reads_rollups(f):
        step = DAY if _daily(f) else HOUR
        source, params = _rollup_source(f, steps[0], step)
        # Every row's bucket lies inside one step: hours, or days from a day's midnight.
        step_sql = "floor(extract(epoch FROM bucket - %s) / %s)::int"
        rows = rollup_reads.fetch(
            f"SELECT {step_sql}, kind, severity, sum(sgn * flags) FROM {source} GROUP BY 1, 2, 3",
            [steps[0], step.total_seconds(), *params],
        )
        counted = [(i, kind, severity, int(n)) for i, kind, severity, n in rows]
    else:
        trunc = TruncDay("ts") if _daily(f) else TruncHour("ts")
        index = {s: i for i, s in enumerate(steps)}
        counted = [
            (index.get(row["t"], -1), row["kind"], row["severity"], row["n"])
            for row in qs.annotate(t=trunc).values("t", "kind", "severity").annotate(n=Count("id")).order_by()
        ]
    by_kind: dict[str, list[int]] = {}
    by_severity: dict[str, list[int]] = {}
    for i, kind, severity, n in counted:
        if not 0 <= i < len(steps) or not n:
            continue
        by_kind.setdefault(kind, [0] * len(steps))[i] += n
        by_severity.setdefault(severity, [0] * len(steps))[i] += n
    return steps, by_kind, by_severity


def top_tenants(qs: QuerySet[SafetyFlag], f: Filters, n: int = 10) -> list[dict[str, Any]]:
    if not reads_rollups(f):
        counted = qs.values("tenant__slug").annotate(n=Count("id")).order_by("-n", "tenant__slug")[:n]
        return [{"tenant__slug": row["tenant__slug"], "n": row["n"]} for row in counted]
    source, params = _rollup_source(f)
    rows = rollup_reads.fetch(f"SELECT tenant_id, sum(sgn * flags) FROM {source} GROUP BY 1", params)
    counts = {tenant_id: int(total) for tenant_id, total in rows if total}
    slugs = tenants.slugs_by_id(counts)
    ranked = sorted(((slugs[t], c) for t, c in counts.items() if t in slugs), key=lambda sc: (-sc[1], sc[0]))
    return [{"tenant__slug": slug, "n": c} for slug, c in ranked[:n]]


def open_flag_count(user: Any, f: Filters) -> int:
    """Flags not yet resolved in the range, in the user's scope (the overview tile)."""
    if f.range.grain == "hour":
        source, params = _rollup_source(f)
        return int(rollup_reads.fetch(f"SELECT coalesce(sum(sgn * open_flags), 0) FROM {source}", params)[0][0])
    qs = scope_queryset(user, SafetyFlag.objects.filter(ts__gte=f.range.start, ts__lt=f.range.end, resolved_at=None))
    if f.tenant is not None:
        qs = qs.filter(tenant=f.tenant)
    return qs.count()


def listing(qs: QuerySet[SafetyFlag], kind: str) -> QuerySet[SafetyFlag]:
    """The flags of the page's table, newest first, of one kind when one is chosen."""
    if kind:
        qs = qs.filter(kind=kind)
    return qs.select_related("tenant").order_by("-ts", "-id")


def open_flags_by_tenant(tenant_ids: frozenset[int], since: dt.datetime) -> dict[int, int]:
    """Flags not yet resolved since ``since``, per tenant (the tenant list)."""
    return dict(
        SafetyFlag.objects.filter(tenant_id__in=tenant_ids, resolved_at=None, ts__gte=since)
        .values_list("tenant_id")
        .annotate(n=Count("id"))
        .values_list("tenant_id", "n")
    )


def conversation_flags(tenant: Any, conversation_id: str, limit: int = 50) -> QuerySet[SafetyFlag]:
    return SafetyFlag.objects.filter(tenant=tenant, conversation_id=conversation_id).order_by("ts")[:limit]
