"""Reads for the dashboards. Charts and tiles read the rollup tables only; every
query is limited to the user's tenants through Filters.tenant_ids()."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import connection
from django.utils import timezone

from opsdash.health import HEARTBEAT_KEY, check_database
from opsdash.lib import histogram
from opsdash.telemetry import rollups
from opsdash.telemetry.filters import Filters

TENANT_GROUPINGS = frozenset({4, 5, 6, 7})
SUM_COLUMNS = (
    "requests", "ok", "errors", "timeouts", "rate_limited", "blocked", "cache_hits",
    "input_tokens", "output_tokens", "cost_usd", "cost_unknown", "latency_sum_ms", "safety_flags",
)  # fmt: skip
DIM_COLUMN = {"route": "route", "model": "model", "prompt": "prompt_id || '@' || prompt_version", "tenant": "tenant_id"}


def metrics_snapshot() -> dict[str, Any]:
    from opsdash.telemetry.models import Heartbeat

    database_ok, _ = check_database()
    age = -1.0
    gauges: dict[str, tuple[str, float]] = {}
    if database_ok:
        beat = Heartbeat.objects.filter(name=HEARTBEAT_KEY).first()
        if beat is not None:
            age = (timezone.now() - beat.seen_at).total_seconds()
        from opsdash.tenants.models import Tenant

        gauges["tenants"] = ("Tenants known to opsdash", Tenant.objects.count())
        gauges["tenants_paused"] = ("Tenants paused", Tenant.objects.filter(status=Tenant.Status.PAUSED).count())
    return {"database_ok": database_ok, "heartbeat_age_seconds": age, "gauges": gauges}


# --- the query builder -------------------------------------------------------------------


@dataclass
class Totals:
    requests: int = 0
    ok: int = 0
    errors: int = 0
    timeouts: int = 0
    rate_limited: int = 0
    blocked: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    cost_unknown: int = 0
    latency_sum_ms: float = 0.0
    safety_flags: int = 0
    # p50, p95 and p99 of latency, read with the sums (see quantiles()).
    quantile_values: dict[float, float] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        """Calls that did not answer: errors and timeouts (rate limits and blocks are the product's choice)."""
        return self.errors + self.timeouts

    @property
    def error_rate(self) -> float | None:
        return self.failed / self.requests if self.requests else None

    def quantile(self, q: float) -> float | None:
        return self.quantile_values.get(q)

    @property
    def p95(self) -> float | None:
        return self.quantile(0.95)

    @property
    def cost_per_1k(self) -> Decimal | None:
        known = self.requests - self.cost_unknown
        return self.cost_usd * 1000 / known if known else None

    @property
    def cost_per_success(self) -> Decimal | None:
        return self.cost_usd / self.ok if self.ok else None


def bucket_width(f: Filters, grouping: int, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
    """Time one rollup row covers for this read (tenant breakdowns are coarser)."""
    grain = "minute" if _table(f, start, end).endswith("minute") else "hour"
    return rollups.bucket_width(grain, grouping)


def _floor(value: dt.datetime, width: dt.timedelta) -> dt.datetime:
    seconds = width.total_seconds()
    return dt.datetime.fromtimestamp((value.timestamp() // seconds) * seconds, dt.UTC)


def _where(f: Filters, grouping: int, start: dt.datetime, end: dt.datetime) -> tuple[str, list[Any]]:
    # A row covering part of the range counts whole: its bucket starts at or before `start`.
    start = _floor(start, bucket_width(f, grouping, start, end))
    clauses = ["grouping = %s", "bucket >= %s", "bucket < %s"]
    params: list[Any] = [grouping, start, end]
    tenant_ids = f.tenant_ids()
    if grouping in TENANT_GROUPINGS:
        if tenant_ids is not None:
            clauses.append("tenant_id = ANY(%s)")
            params.append(sorted(tenant_ids))
    else:
        # A global grouping is only read for users who see every tenant.
        assert tenant_ids is None, "global rollups read for a scoped user"
        clauses.append("tenant_id = 0")
    for column, value in f.dimension_filters().items():
        clauses.append(f"{column} = %s")
        params.append(value)
    return " AND ".join(clauses), params


def _table(f: Filters, start: dt.datetime, end: dt.datetime) -> str:
    return "telemetry_rollup_minute" if (end - start) <= dt.timedelta(hours=24) else "telemetry_rollup_hour"


def _fetch(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _sums_sql() -> str:
    return ", ".join(f"sum({c})" for c in SUM_COLUMNS)


def _totals_from(row: tuple[Any, ...]) -> Totals:
    values: dict[str, Any] = {}
    for name, value in zip(SUM_COLUMNS, row, strict=True):
        value = value if value is not None else 0
        if name == "cost_usd":
            values[name] = Decimal(value)
        elif name == "latency_sum_ms":
            values[name] = float(value)
        else:
            values[name] = int(value)  # sum() of bigint comes back as numeric
    return Totals(**values)


def totals_by(
    f: Filters,
    by: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    with_quantiles: bool = True,
) -> dict[Any, Totals]:
    """Sums and latency histogram over the range, per value of ``by`` (one key None without ``by``)."""
    start = start or f.range.start
    end = end or f.range.end
    grouping = f.grouping(by)
    where, params = _where(f, grouping, start, end)
    table = _table(f, start, end)
    key = DIM_COLUMN[by] if by else "NULL"
    result: dict[Any, Totals] = {}
    for row in _fetch(f"SELECT {key}, {_sums_sql()} FROM {table} WHERE {where} GROUP BY 1", params):
        result[row[0]] = _totals_from(row[1:])
    if with_quantiles and result:
        for (dim, _), values in quantiles(f, by, start=start, end=end).items():
            if dim in result:
                result[dim].quantile_values = values
    return result


def totals(
    f: Filters, start: dt.datetime | None = None, end: dt.datetime | None = None, with_quantiles: bool = True
) -> Totals:
    return totals_by(f, None, start, end, with_quantiles).get(None, Totals())


@dataclass
class Series:
    """Values per chart step (aligned to the range start) and per breakdown value."""

    steps: list[dt.datetime]
    by_key: dict[Any, dict[str, np.ndarray]]


@dataclass(frozen=True)
class Axis:
    """The time axis of a chart: steps of ``step`` from ``origin`` to the range end."""

    origin: dt.datetime
    step: dt.timedelta
    steps: list[dt.datetime]


def axis(f: Filters, grouping: int) -> Axis:
    width = bucket_width(f, grouping, f.range.start, f.range.end)
    step = max(f.range.step, width)
    origin = _floor(f.range.start, width) if step == width else f.range.start
    steps = []
    t = origin
    while t < f.range.end:
        steps.append(t)
        t += step
    return Axis(origin, step, steps)


def _steps(f: Filters) -> list[dt.datetime]:
    return axis(f, f.grouping(None)).steps


def series(f: Filters, by: str | None = None, measures: tuple[str, ...] = ("requests",)) -> Series:
    grouping = f.grouping(by)
    ax = axis(f, grouping)
    steps = ax.steps
    index = {t: i for i, t in enumerate(steps)}
    where, params = _where(f, grouping, f.range.start, f.range.end)
    key = DIM_COLUMN[by] if by else "NULL"
    sql = (
        f"SELECT {key}, date_bin(%s, bucket, %s) AS t, {', '.join(f'sum({m})' for m in measures)} "
        f"FROM {_table(f, f.range.start, f.range.end)} WHERE {where} GROUP BY 1, 2"
    )
    by_key: dict[Any, dict[str, np.ndarray]] = {}
    for row in _fetch(sql, [ax.step, ax.origin, *params]):
        arrays = by_key.setdefault(row[0], {m: np.zeros(len(steps)) for m in measures})
        i = index.get(row[1])
        if i is None:
            continue
        for m, value in zip(measures, row[2:], strict=True):
            arrays[m][i] = float(value or 0)
    return Series(steps, by_key)


def _step_sql() -> str:
    # Chart step of a bucket as an integer, so rows come back as small ints, not timestamps.
    return "floor(extract(epoch FROM bucket - %(origin)s) / %(step)s)::int"


def _interpolate(index: int, before: int, count: int, rank: float) -> float:
    """The value at ``rank`` inside bucket ``index`` (as histogram.quantiles_dense does)."""
    frac = min(max((rank - before) / count, 0.0), 1.0) if count else 0.0
    if index == 0:
        return frac * float(histogram.EDGES[0])
    if index >= histogram.OVERFLOW:
        return histogram.MAX_EDGE
    lo, hi = float(histogram.EDGES[index - 1]), float(histogram.EDGES[index])
    return lo * (hi / lo) ** frac


def quantiles(
    f: Filters,
    by: str | None = None,
    qs: tuple[float, ...] = (0.5, 0.95, 0.99),
    per_step: bool = False,
    column: str = "latency",
    keys: list[Any] | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> dict[tuple[Any, int], dict[float, float]]:
    """Quantiles from the rollup histograms, found in SQL: for every (key, step) only the
    bucket holding each quantile comes back, and the value is interpolated inside it.

    Returns {(key, step): {q: value}}; step is 0 unless ``per_step``.
    """
    start = start or f.range.start
    end = end or f.range.end
    grouping = f.grouping(by)
    where, params = _where(f, grouping, start, end)
    key = DIM_COLUMN[by] if by else "NULL"
    if keys is not None and by:
        where += f" AND {key} = ANY(%(keys)s)"
    step = _step_sql() if per_step else "0"
    ax = axis(f, grouping)
    named = {f"p{i}": v for i, v in enumerate(params)}
    where_named = where
    for i in range(len(params)):
        where_named = where_named.replace("%s", f"%(p{i})s", 1)
    sql = f"""
WITH h AS (
    SELECT {key} AS k, {step} AS s, h.i, sum(h.c)::bigint AS c
    FROM {_table(f, start, end)} r, unnest(r.{column}_hist_idx, r.{column}_hist_cnt) AS h(i, c)
    WHERE {where_named}
    GROUP BY 1, 2, 3
), w AS (
    SELECT k, s, i, c, sum(c) OVER (PARTITION BY k, s ORDER BY i) AS upto, sum(c) OVER (PARTITION BY k, s) AS total
    FROM h
)
SELECT k, s, q, i, c, upto - c, total FROM w CROSS JOIN unnest(%(qs)s::float8[]) AS q
WHERE upto >= q * total AND upto - c < q * total"""
    named.update({"origin": ax.origin, "step": ax.step.total_seconds(), "qs": list(qs), "keys": keys})
    out: dict[tuple[Any, int], dict[float, float]] = {}
    for k, s, q, index, count, before, total in _fetch(sql, named):  # type: ignore[arg-type]
        out.setdefault((k, s), {})[q] = _interpolate(index, int(before), int(count), q * int(total))
    return out


def heatmap_counts(f: Filters, merge: int) -> tuple[list[dt.datetime], np.ndarray]:
    """Request counts per chart step and per display row (``merge`` fine buckets per row;
    row 0 is below 1 ms, the last row the overflow bucket)."""
    grouping = f.grouping(None)
    ax = axis(f, grouping)
    steps = ax.steps
    rows = (histogram.LOG_BUCKETS + merge - 1) // merge + 2
    where, params = _where(f, grouping, f.range.start, f.range.end)
    named = {f"p{i}": v for i, v in enumerate(params)}
    for i in range(len(params)):
        where = where.replace("%s", f"%(p{i})s", 1)
    named.update({"origin": ax.origin, "step": ax.step.total_seconds(), "merge": merge,
                  "last": rows - 1, "overflow": histogram.OVERFLOW})  # fmt: skip
    sql = f"""
SELECT {_step_sql()} AS s,
       CASE WHEN h.i = 0 THEN 0 WHEN h.i >= %(overflow)s THEN %(last)s ELSE (h.i - 1) / %(merge)s + 1 END AS row,
       sum(h.c)
FROM {_table(f, f.range.start, f.range.end)} r, unnest(r.latency_hist_idx, r.latency_hist_cnt) AS h(i, c)
WHERE {where}
GROUP BY 1, 2"""
    matrix = np.zeros((len(steps), rows), dtype=np.int64)
    for step, row, count in _fetch(sql, named):  # type: ignore[arg-type]
        if 0 <= step < len(steps):
            matrix[step, row] += count
    return steps, matrix


def line(values: dict[tuple[Any, int], dict[float, float]], key: Any, q: float, steps: int) -> list[float | None]:
    """One quantile of one key per chart step, None where the step had no requests."""
    return [values.get((key, i), {}).get(q) for i in range(steps)]


def top_keys(totals_map: dict[Any, Totals], n: int, measure: str = "requests") -> list[Any]:
    ranked = sorted(totals_map.items(), key=lambda kv: (-float(getattr(kv[1], measure)), str(kv[0])))
    return [k for k, _ in ranked[:n]]


def tenant_names(ids: set[Any]) -> dict[int, str]:
    from opsdash.tenants.models import Tenant

    return dict(Tenant.objects.filter(pk__in=[i for i in ids if i]).values_list("pk", "slug"))


def group_rows(rows: list[tuple[Any, ...]]) -> dict[Any, list[tuple[Any, ...]]]:
    grouped: dict[Any, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        grouped[row[0]].append(row[1:])
    return grouped
