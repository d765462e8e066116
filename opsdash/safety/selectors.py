"""Reads over safety flags. Ranges of whole hours (over 24 hours) count flags from the
hourly and daily rollups (migration 0002); shorter ranges, to the minute, and a route
filter (the rollups have no route) count the flags themselves by their time index."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
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


def top_open_flags(user: Any, f: Filters, n: int = 2) -> list[tuple[str, str, int]]:
    """(tenant slug, kind, open flags) with the most open flags in the range, most first,
    then by slug and kind (the overview tile names them); read as open_flag_count reads."""
    if f.range.grain == "hour":
        source, params = _rollup_source(f)
        rows = rollup_reads.fetch(
            f"SELECT tenant_id, kind, sum(sgn * open_flags) FROM {source} "
            "GROUP BY 1, 2 HAVING sum(sgn * open_flags) > 0",
            params,
        )
        slugs = tenants.slugs_by_id({t for t, _, _ in rows})
        counted = [(slugs[t], kind, int(c)) for t, kind, c in rows if t in slugs]
    else:
        qs = scope_queryset(
            user, SafetyFlag.objects.filter(ts__gte=f.range.start, ts__lt=f.range.end, resolved_at=None)
        )
        if f.tenant is not None:
            qs = qs.filter(tenant=f.tenant)
        counted = [
            (row["tenant__slug"], row["kind"], row["n"])
            for row in qs.values("tenant__slug", "kind").annotate(n=Count("id")).order_by()
        ]
    return sorted(counted, key=lambda r: (-r[2], r[0], r[1]))[:n]


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


# --- Spikes (the overview's "Needs attention") --------------------------------------------------

# An hour of one kind of flag for one tenant is a spike when it holds at least SPIKE_MIN_FLAGS
# flags and at least SPIKE_FACTOR times that tenant's usual hourly count of that kind: the
# mean of the other hours of the lookback (so a quiet tenant's first handful of flags is
# not a wave, and a wave is measured against the tenant's own normal, not everyone's).
SPIKE_MIN_FLAGS = 10
SPIKE_FACTOR = 5.0


@dataclass(frozen=True)
class FlagSpike:
    tenant_id: int
    slug: str
    kind: str
    start: dt.datetime
    end: dt.datetime  # adjacent spike hours are one spike [start, end)
    flags: int  # in all its hours
    peak: int  # in its worst hour
    usual: float  # flags per hour otherwise
    factor: float  # worst hour against usual (against 1 flag an hour when usual is less)


def flag_spikes(
    tenant_ids: frozenset[int] | None, start: dt.datetime, end: dt.datetime, *, min_flags: int = SPIKE_MIN_FLAGS
) -> list[FlagSpike]:
    """Hours from ``start`` to ``end`` in which a tenant in ``tenant_ids`` (None: all) got
    far more flags of one kind than it usually does, from the hourly flag rollups."""
    start = start.replace(minute=0, second=0, microsecond=0)
    where = "bucket >= %s AND bucket < %s"
    params: list[Any] = [start, end]
    if tenant_ids is not None:
        where += " AND tenant_id = ANY(%s)"
        params.append(sorted(tenant_ids))
    hours = max(int((end - start) / HOUR), 2)
    # Only the hot hours leave the database, each with its subject's usual count (the mean
    # of its other hours): a week of every tenant's every kind is tens of thousands of rows.
    rows = rollup_reads.fetch(
        f"""
        SELECT tenant_id, kind, bucket, n, (total - n)::float8 / %s AS usual FROM (
          SELECT tenant_id, kind, bucket, sum(flags) AS n,
                 sum(sum(flags)) OVER (PARTITION BY tenant_id, kind) AS total
          FROM {HOUR_TABLE} WHERE {where} GROUP BY 1, 2, 3
        ) AS per_hour
        WHERE n >= %s AND n >= %s * greatest((total - n)::float8 / %s, 1.0)
        ORDER BY 1, 2, 3
        """,
        [hours - 1, *params, max(min_flags, 1), SPIKE_FACTOR, hours - 1],
    )
    per_subject: dict[tuple[int, str], list[tuple[dt.datetime, int, float]]] = {}
    for tenant_id, kind, bucket, n, usual in rows:
        per_subject.setdefault((tenant_id, kind), []).append((bucket, int(n), float(usual)))
    found: list[tuple[int, str, list[tuple[dt.datetime, int]], float]] = []
    for (tenant_id, kind), hot in per_subject.items():
        for adjacent in _adjacent(hot):
            found.append((tenant_id, kind, [(b, n) for b, n, _ in adjacent], min(u for _, _, u in adjacent)))
    slugs = tenants.slugs_by_id({t for t, _, _, _ in found})
    spikes = []
    for tenant_id, kind, run, usual in found:
        peak = max(n for _, n in run)
        spikes.append(
            FlagSpike(
                tenant_id=tenant_id,
                slug=slugs.get(tenant_id, str(tenant_id)),
                kind=kind,
                start=run[0][0],
                end=run[-1][0] + HOUR,
                flags=sum(n for _, n in run),
                peak=peak,
                usual=usual,
                factor=peak / max(usual, 1.0),
            )
        )
    return spikes


def _adjacent(hours: list[tuple[dt.datetime, int, float]]) -> list[list[tuple[dt.datetime, int, float]]]:
    runs: list[list[tuple[dt.datetime, int, float]]] = []
    for item in hours:
        if runs and item[0] - runs[-1][-1][0] <= HOUR:
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


# --- Recent flags per tenant and kind (the safety.spike alert rule) -----------------------------


@dataclass(frozen=True)
class RecentFlags:
    tenant_id: int
    kind: str
    hours: tuple[int, ...]  # flags in each hour from ``start``, oldest first
    before: int  # flags in the baseline hours before ``start``


def recent_flags_by_kind(baseline_start: dt.datetime, start: dt.datetime, end: dt.datetime) -> list[RecentFlags]:
    """Per tenant and kind with flags in the whole hours from ``start`` to ``end`` (the
    hour holding ``end`` included): its flags in each of those hours, and its flags from
    ``baseline_start`` to ``start``, from the hourly flag rollups; ordered by tenant, kind."""
    start = start.replace(minute=0, second=0, microsecond=0)
    baseline_start = baseline_start.replace(minute=0, second=0, microsecond=0)
    hours = max(-((start - end) // HOUR), 1)  # whole hours, rounded up
    rows = rollup_reads.fetch(
        f"""
SELECT tenant_id, kind,
       CASE WHEN bucket < %s THEN -1 ELSE floor(extract(epoch FROM bucket - %s) / 3600)::int END AS i, sum(flags)
FROM {HOUR_TABLE}
WHERE bucket >= %s AND bucket < %s
  AND (tenant_id, kind) IN (SELECT tenant_id, kind FROM {HOUR_TABLE} WHERE bucket >= %s AND bucket < %s AND flags > 0)
GROUP BY 1, 2, 3""",
        [start, start, baseline_start, end, start, end],
    )
    found: dict[tuple[int, str], tuple[list[int], list[int]]] = {}
    for tenant_id, kind, i, n in rows:
        per_hour, before = found.setdefault((int(tenant_id), kind), ([0] * hours, [0]))
        if i < 0:
            before[0] += int(n)
        elif i < hours:
            per_hour[i] += int(n)
    return [
        RecentFlags(tenant_id, kind, tuple(per_hour), before[0])
        for (tenant_id, kind), (per_hour, before) in sorted(found.items())
        if any(per_hour)
    ]
