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
    hist: np.ndarray = field(default_factory=lambda: np.zeros(histogram.BUCKETS, dtype=np.int64))

    @property
    def failed(self) -> int:
        """Calls that did not answer: errors and timeouts (rate limits and blocks are the product's choice)."""
        return self.errors + self.timeouts

    @property
    def error_rate(self) -> float | None:
        return self.failed / self.requests if self.requests else None

    def quantile(self, q: float) -> float | None:
        return histogram.quantiles_dense(self.hist, [q])[0]

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


def _where(f: Filters, grouping: int, start: dt.datetime, end: dt.datetime) -> tuple[str, list[Any]]:
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
    f: Filters, by: str | None = None, start: dt.datetime | None = None, end: dt.datetime | None = None
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
    hist_sql = (
        f"SELECT {key}, h.i, sum(h.c) FROM {table} r, unnest(r.latency_hist_idx, r.latency_hist_cnt) AS h(i, c) "
        f"WHERE {where} GROUP BY 1, 2"
    )
    for dim, index, count in _fetch(hist_sql, params):
        result[dim].hist[index] += count
    return result


def totals(f: Filters, start: dt.datetime | None = None, end: dt.datetime | None = None) -> Totals:
    return totals_by(f, None, start, end).get(None, Totals())


@dataclass
class Series:
    """Values per chart step (aligned to the range start) and per breakdown value."""

    steps: list[dt.datetime]
    by_key: dict[Any, dict[str, np.ndarray]]


def _steps(f: Filters) -> list[dt.datetime]:
    out = []
    t = f.range.start
    while t < f.range.end:
        out.append(t)
        t += f.range.step
    return out


def series(f: Filters, by: str | None = None, measures: tuple[str, ...] = ("requests",)) -> Series:
    steps = _steps(f)
    index = {t: i for i, t in enumerate(steps)}
    grouping = f.grouping(by)
    where, params = _where(f, grouping, f.range.start, f.range.end)
    key = DIM_COLUMN[by] if by else "NULL"
    sql = (
        f"SELECT {key}, date_bin(%s, bucket, %s) AS t, {', '.join(f'sum({m})' for m in measures)} "
        f"FROM {_table(f, f.range.start, f.range.end)} WHERE {where} GROUP BY 1, 2"
    )
    by_key: dict[Any, dict[str, np.ndarray]] = {}
    for row in _fetch(sql, [f.range.step, f.range.start, *params]):
        arrays = by_key.setdefault(row[0], {m: np.zeros(len(steps)) for m in measures})
        i = index.get(row[1])
        if i is None:
            continue
        for m, value in zip(measures, row[2:], strict=True):
            arrays[m][i] = float(value or 0)
    return Series(steps, by_key)


def latency_matrix(
    f: Filters, by: str | None = None, column: str = "latency"
) -> tuple[list[dt.datetime], dict[Any, np.ndarray]]:
    """Histogram counts per chart step: {key: array[steps, BUCKETS]}."""
    steps = _steps(f)
    index = {t: i for i, t in enumerate(steps)}
    grouping = f.grouping(by)
    where, params = _where(f, grouping, f.range.start, f.range.end)
    key = DIM_COLUMN[by] if by else "NULL"
    sql = (
        f"SELECT {key}, date_bin(%s, bucket, %s) AS t, h.i, sum(h.c) "
        f"FROM {_table(f, f.range.start, f.range.end)} r, unnest(r.{column}_hist_idx, r.{column}_hist_cnt) AS h(i, c) "
        f"WHERE {where} GROUP BY 1, 2, 3"
    )
    out: dict[Any, np.ndarray] = {}
    for dim, t, bucket, count in _fetch(sql, [f.range.step, f.range.start, *params]):
        matrix = out.get(dim)
        if matrix is None:
            matrix = out[dim] = np.zeros((len(steps), histogram.BUCKETS), dtype=np.int64)
        i = index.get(t)
        if i is not None:
            matrix[i, bucket] += count
    return steps, out


def quantile_lines(matrix: np.ndarray, qs: tuple[float, ...] = (0.5, 0.95, 0.99)) -> dict[float, list[float | None]]:
    lines: dict[float, list[float | None]] = {q: [] for q in qs}
    for row in matrix:
        values = histogram.quantiles_dense(row, list(qs))
        for q, v in zip(qs, values, strict=True):
            lines[q].append(v)
    return lines


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
