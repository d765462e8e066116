"""Reads for the dashboards. Charts and tiles read the rollup tables only; every
query is limited to the user's tenants through Filters.tenant_ids()."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import psycopg
from django.db import connection
from django.utils import timezone

from opsdash.lib import histogram, rollup_reads
from opsdash.telemetry import rollups
from opsdash.telemetry.filters import Filters
from opsdash.telemetry.models import HEARTBEAT_KEY, Heartbeat, ModelPrice
from opsdash.tenants import selectors as tenants

TENANT_GROUPINGS = frozenset({4, 5, 6, 7})
SUM_COLUMNS = (
    "requests", "ok", "errors", "timeouts", "rate_limited", "blocked", "cache_hits",
    "input_tokens", "output_tokens", "cost_usd", "cost_unknown", "latency_sum_ms", "safety_flags",
)  # fmt: skip
DIM_COLUMN = {"route": "route", "model": "model", "prompt": "prompt_id || '@' || prompt_version", "tenant": "tenant_id"}


def check_database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return False, type(exc).__name__


def prices_for(models: set[str]) -> list[tuple[str, str, dt.datetime, Decimal, Decimal]]:
    """(model, provider, effective_from, input and output USD per million tokens) of these
    models, newest first per model."""
    return list(
        ModelPrice.objects.filter(model__in=models)
        .order_by("model", "-effective_from")
        .values_list("model", "provider", "effective_from", "input_usd_per_mtok", "output_usd_per_mtok")
    )


def metrics_snapshot() -> dict[str, Any]:
    database_ok, _ = check_database()
    age = -1.0
    gauges: dict[str, tuple[str, float]] = {}
    if database_ok:
        beat = Heartbeat.objects.filter(name=HEARTBEAT_KEY).first()
        if beat is not None:
            age = (timezone.now() - beat.seen_at).total_seconds()
        known, paused = tenants.tenant_count()
        gauges["tenants"] = ("Tenants known to opsdash", known)
        gauges["tenants_paused"] = ("Tenants paused", paused)
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


_floor = rollup_reads.floor


def _where(
    f: Filters, grouping: int, start: dt.datetime, end: dt.datetime, floor: bool = True
) -> tuple[str, list[Any]]:
    # A row covering part of the range counts whole: its bucket starts at or before `start`.
    if floor:
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


HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
MINUTE_TABLE = rollups.GRAINS["minute"]
HOUR_TABLE = rollups.GRAINS["hour"]
DAY_TABLE = rollups.GRAINS["day"]


def _coarser(table: str, grouping: int) -> tuple[str, dt.timedelta] | None:
    """The next table up, holding this grouping in wider rows, and their width: whole hours
    of minute rows from the hour table, whole UTC days of hour rows from the day table."""
    if table == MINUTE_TABLE:
        return HOUR_TABLE, rollups.bucket_width("hour", grouping)
    if table == HOUR_TABLE and grouping in rollups.DAY_GROUPINGS:
        return DAY_TABLE, DAY
    return None


Piece = rollup_reads.Piece


def _rung(table: str, grouping: int, now: dt.datetime) -> rollup_reads.Rung | None:
    up = _coarser(table, grouping)
    if up is None:
        return None
    coarser, width = up
    fine = rollups.bucket_width("minute" if table == MINUTE_TABLE else "hour", grouping)
    # Hour rows are kept as long as day rows, minute rows only for the last few days: an
    # hour is read less its minutes only while they are all there.
    cut_from = rollups.minute_cutoff(now) + HOUR if coarser == HOUR_TABLE else None
    return rollup_reads.Rung(coarser, width, fine, cut_from)


def _pieces(
    f: Filters,
    grouping: int,
    start: dt.datetime,
    end: dt.datetime,
    origin: dt.datetime | None = None,
    step: dt.timedelta | None = None,
    now: dt.datetime | None = None,
) -> list[Piece]:
    """The (table, from, to, sign) reads that cover a range (see rollup_reads.decompose):
    whole hours of minute rows from the hour table, whole days of hour rows from the day
    table, a row instead of 60 or 24; "today" is 200 day rows for 200 tenants, not 200
    times the hours so far."""
    # A chart's steps were laid out on the grain of the filters' range (see axis), even
    # when its origin reaches back past that range's start: read that grain's table.
    span = (f.range.start, f.range.end) if origin is not None else (start, end)
    table = _table(f, *span)
    start = _floor(start, bucket_width(f, grouping, *span))
    at = now or timezone.now()
    return rollup_reads.decompose(table, start, end, at, lambda t: _rung(t, grouping, at), origin, step)


def _source(
    f: Filters,
    grouping: int,
    start: dt.datetime,
    end: dt.datetime,
    columns: str,
    measures: tuple[str, ...] = (),
    origin: dt.datetime | None = None,
    step: dt.timedelta | None = None,
) -> tuple[str, list[Any]]:
    """A subquery over the rollup rows of this read (see _pieces): ``columns``, then the
    ``measures`` (negated in the pieces read with sign -1) and the sign as ``sgn``."""
    parts, params = [], []
    for table, lo, hi, sign in _pieces(f, grouping, start, end, origin, step):
        picked = [columns, *(m if sign > 0 else f"-{m} AS {m}" for m in measures), f"{sign} AS sgn"]
        where, where_params = _where(f, grouping, lo, hi, floor=False)
        parts.append(f"SELECT {', '.join(picked)} FROM {table} WHERE {where}")
        params += where_params
    return "(" + " UNION ALL ".join(parts) + ") AS r", params


_fetch = rollup_reads.fetch


# Histogram arrays are read as the bytes of their elements (array_send without its 20-byte
# header: a length and a big-endian value per element) and parsed by NumPy once per query:
# parsing them as text into Python ints, or even one NumPy view per array, cost more than the
# query (a 7-day page reads ~10^5 buckets in a few thousand arrays).
IDX_ELEMENT = np.dtype([("length", ">i4"), ("value", ">i2")])  # smallint[] bucket indexes
CNT_ELEMENT = np.dtype([("length", ">i4"), ("value", ">i4")])  # integer[] counts


def _elements_sql(column: str) -> str:
    return f"substr(array_send({column}), 21)"


def _elements(blobs: list[bytes], element: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """The values of many arrays' elements, concatenated, and how many each array had."""
    joined = b"".join(blobs)
    if len(joined) % element.itemsize:
        raise psycopg.DataError("histogram arrays must be one-dimensional without NULLs")
    parsed = np.frombuffer(joined, dtype=element)
    # Every element of a one-dimensional array without NULLs has its type's own length (a
    # NULL has -1 and no value; more dimensions would shift the elements): else refuse.
    if (parsed["length"] != element["value"].itemsize).any():
        raise psycopg.DataError("histogram arrays must be one-dimensional without NULLs")
    lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs)) // element.itemsize
    return parsed["value"].astype(np.int64), lengths


def _fetch_arrays(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """_fetch for rows with histogram arrays: binary results, so bytea comes as bytes.

    Django's own cursors bind client-side and cannot return binary results, so this uses
    a psycopg cursor on the same connection (same transaction) and logs the query where
    Django's query capture (assertNumQueries, the debug toolbar) looks for it.
    """
    connection.ensure_connection()
    started = time.perf_counter()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, binary=True)
        rows = cursor.fetchall()
    if connection.queries_logged:
        connection.queries_log.append({"sql": sql, "time": f"{time.perf_counter() - started:.3f}"})
    return rows


def _sums_sql() -> str:
    return ", ".join(f"sum({c})" for c in SUM_COLUMNS)


# How a sum comes back, as the Totals field wants it (sum() of bigint is numeric).
_CONVERT: dict[str, Any] = {c: int for c in SUM_COLUMNS} | {"cost_usd": Decimal, "latency_sum_ms": float}


def _totals_from(row: tuple[Any, ...], columns: tuple[str, ...] = SUM_COLUMNS) -> Totals:
    """Totals of the sums in ``row`` (one per name in ``columns``; the others stay 0)."""
    return Totals(
        **{name: _CONVERT[name](value or 0) for name, value in zip(columns, row, strict=True)}  # type: ignore[arg-type]
    )


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
    key = DIM_COLUMN[by] if by else "NULL"
    source, params = _source(f, grouping, start, end, f"{key} AS k", SUM_COLUMNS)
    result: dict[Any, Totals] = {}
    for row in _fetch(f"SELECT k, {_sums_sql()} FROM {source} GROUP BY 1", params):
        result[row[0]] = _totals_from(row[1:])
    if with_quantiles and result:
        for (dim, _), values in quantiles(f, by, start=start, end=end).items():
            if dim in result:
                result[dim].quantile_values = values
    return result


def budget_windows(now: dt.datetime) -> dict[str, tuple[dt.datetime, dt.datetime]]:
    """Today and the month to date (UTC), as budgets count spend: the cost page, the tenant
    list and the budget alerts read the same windows, so they agree."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "today": (midnight, now + dt.timedelta(minutes=1)),
        "month": (midnight.replace(day=1), now + dt.timedelta(hours=1)),
    }


def totals_in_windows(
    f: Filters,
    by: str,
    windows: dict[str, tuple[dt.datetime, dt.datetime]],
    measures: tuple[str, ...] = SUM_COLUMNS,
) -> dict[str, dict[Any, Totals]]:
    """totals_by (without quantiles) for several windows in one round trip; each window is
    read exactly as totals_by reads it. Only ``measures`` are summed (the rest stay 0)."""
    grouping = f.grouping(by)
    sums = ", ".join(f"sum({m})" for m in measures)
    parts, params = [], []
    for name, (start, end) in windows.items():
        source, source_params = _source(f, grouping, start, end, f"{DIM_COLUMN[by]} AS k", measures)
        parts.append(f"SELECT %s::text AS w, k, {sums} FROM {source} GROUP BY 2")
        params += [name, *source_params]
    out: dict[str, dict[Any, Totals]] = {name: {} for name in windows}
    for row in _fetch(" UNION ALL ".join(parts), params):
        out[row[0]][row[1]] = _totals_from(row[2:], measures)
    return out


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


def axis(f: Filters, grouping: int, step: dt.timedelta | None = None) -> Axis:
    """The chart steps: the range's own step, or ``step`` (whole days count from UTC midnight)."""
    width = bucket_width(f, grouping, f.range.start, f.range.end)
    step = max(step or f.range.step, width)
    if step == width:
        origin = _floor(f.range.start, width)
    elif step % DAY == dt.timedelta(0):
        origin = _floor(f.range.start, DAY)
    else:
        origin = f.range.start
    steps = []
    t = origin
    while t < f.range.end:
        steps.append(t)
        t += step
    return Axis(origin, step, steps)


def _steps(f: Filters) -> list[dt.datetime]:
    return axis(f, f.grouping(None)).steps


def series(
    f: Filters, by: str | None = None, measures: tuple[str, ...] = ("requests",), step: dt.timedelta | None = None
) -> Series:
    grouping = f.grouping(by)
    ax = axis(f, grouping, step)
    steps = ax.steps
    key = DIM_COLUMN[by] if by else "NULL"
    source, params = _source(f, grouping, ax.origin, f.range.end, f"{key} AS k, bucket", measures, ax.origin, ax.step)
    # Steps come back as small integers and sums as floats: no timestamps or Decimals to
    # build per row.
    sums = ", ".join(f"coalesce(sum({m}), 0)::float8" for m in measures)
    sql = f"SELECT k, {_step_sql()} AS s, {sums} FROM {source} GROUP BY 1, 2"
    rows = _fetch(sql, [ax.origin, ax.step.total_seconds(), *params])
    by_key: dict[Any, dict[str, np.ndarray]] = {}
    if rows:
        # Filled with NumPy, not row by row: a week of hours of every route is thousands of rows.
        columns = list(zip(*rows, strict=True))
        number = {k: i for i, k in enumerate(dict.fromkeys(columns[0]))}
        which = np.fromiter(map(number.__getitem__, columns[0]), np.int64, len(rows))
        slot = np.asarray(columns[1], dtype=np.int64)
        inside = (slot >= 0) & (slot < len(steps))
        grids = {}
        for m, values in zip(measures, columns[2:], strict=True):
            grid = np.zeros((len(number), len(steps)))
            grid[which[inside], slot[inside]] = np.asarray(values, dtype=np.float64)[inside]
            grids[m] = grid
        by_key = {k: {m: grids[m][i] for m in measures} for k, i in number.items()}
    return Series(steps, by_key)


def _step_sql() -> str:
    # Chart step of a bucket as an integer, so rows come back as small ints, not timestamps.
    return "floor(extract(epoch FROM bucket - %s) / %s)::int"


@dataclass(frozen=True)
class Histograms:
    """Dense histograms summed per (key, step): ``dense[n]`` is the histogram of ``slots[n]``."""

    slots: list[tuple[Any, int]]
    dense: np.ndarray


def histograms(
    f: Filters,
    by: str | None = None,
    columns: tuple[str, ...] = ("latency",),
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    per_step: bool = False,
    keys: list[Any] | None = None,
    step: dt.timedelta | None = None,
) -> dict[str, Histograms]:
    """The histograms of ``columns`` (latency, ttft) summed per (key, step), in one read.

    The sparse arrays of the rows are fetched as they are and added up here, which is far
    cheaper than unnesting them in SQL; step is 0 unless ``per_step`` (then the chart step
    of ``axis(f, grouping, step)``).
    """
    start = start or f.range.start
    end = end or f.range.end
    grouping = f.grouping(by)
    key = DIM_COLUMN[by] if by else "NULL"
    ax = axis(f, grouping, step)
    origin, width = (ax.origin, ax.step) if per_step else (None, None)
    picked = ", ".join(
        f"{_elements_sql(f'{c}_hist_idx')} AS {c}_i, {_elements_sql(f'{c}_hist_cnt')} AS {c}_c" for c in columns
    )
    source, params = _source(f, grouping, origin or start, end, f"{key} AS k, bucket, {picked}", (), origin, width)
    step_sql, step_params = (_step_sql(), [ax.origin, ax.step.total_seconds()]) if per_step else ("0", [])
    arrays = ", ".join(f"{c}_i, {c}_c" for c in columns)
    sql = f"SELECT k, {step_sql}, sgn, {arrays} FROM {source}"
    params = [*step_params, *params]
    if keys is not None and by:
        sql += " WHERE k = ANY(%s)"
        params.append(list(keys))
    slots: dict[tuple[Any, int], int] = {}
    # Per column: slot and sign of each row, then each row's bucket indexes and counts.
    gathered: dict[str, tuple[list[int], list[int], list[bytes], list[bytes]]] = {c: ([], [], [], []) for c in columns}
    for row in _fetch_arrays(sql, params):
        slot = slots.setdefault((row[0], row[1]), len(slots))
        for n, c in enumerate(columns):
            idx = row[3 + 2 * n]
            if idx:
                rows_slot, rows_sign, idx_parts, cnt_parts = gathered[c]
                rows_slot.append(slot)
                rows_sign.append(row[2])
                idx_parts.append(idx)
                cnt_parts.append(row[4 + 2 * n])
    out = {}
    for c, (rows_slot, rows_sign, idx_parts, cnt_parts) in gathered.items():
        dense = np.zeros((len(slots), histogram.BUCKETS), dtype=np.int64)
        if idx_parts:
            idx, lengths = _elements(idx_parts, IDX_ELEMENT)
            cnt, cnt_lengths = _elements(cnt_parts, CNT_ELEMENT)
            if not np.array_equal(lengths, cnt_lengths):
                raise psycopg.DataError(f"{c} histogram rows with more bucket indexes than counts or fewer")
            where = np.repeat(np.asarray(rows_slot, dtype=np.int64), lengths) * histogram.BUCKETS
            weights = cnt * np.repeat(np.asarray(rows_sign, dtype=np.int64), lengths)
            # Float weights hold counts exactly up to 2^53.
            summed = np.bincount(where + idx, weights=weights.astype(np.float64), minlength=dense.size)
            dense = np.rint(summed).astype(np.int64).reshape(len(slots), histogram.BUCKETS)
        out[c] = Histograms(list(slots), dense)
    return out


def quantiles_of(h: Histograms, qs: tuple[float, ...]) -> dict[tuple[Any, int], dict[float, float]]:
    values = histogram.quantiles_matrix(h.dense, qs).tolist()
    out: dict[tuple[Any, int], dict[float, float]] = {}
    for slot, row in zip(h.slots, values, strict=True):
        found = {q: v for q, v in zip(qs, row, strict=True) if v == v}  # NaN: an empty slot
        if found:
            out[slot] = found
    return out


def quantiles(
    f: Filters,
    by: str | None = None,
    qs: tuple[float, ...] = (0.5, 0.95, 0.99),
    per_step: bool = False,
    column: str = "latency",
    keys: list[Any] | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    step: dt.timedelta | None = None,
) -> dict[tuple[Any, int], dict[float, float]]:
    """Quantiles from the rollup histograms, interpolated inside the bucket that holds each.

    Returns {(key, step): {q: value}}; step is 0 unless ``per_step``.
    """
    h = histograms(f, by, (column,), start, end, per_step, keys, step)[column]
    return quantiles_of(h, qs)


def heatmap_counts(
    f: Filters, merge: int, latency: Histograms | None = None, step: dt.timedelta | None = None
) -> tuple[list[dt.datetime], np.ndarray]:
    """Request counts per chart step and per display row (``merge`` fine buckets per row;
    row 0 is below 1 ms, the last row the overflow bucket). ``latency``: the per-step
    latency histograms of these filters (on ``step``, see axis), when the caller has them."""
    steps = axis(f, f.grouping(None), step).steps
    rows = (histogram.LOG_BUCKETS + merge - 1) // merge + 2
    latency = latency or histograms(f, per_step=True, step=step)["latency"]
    # Display row of every fine bucket, as a (fine bucket × display row) 0/1 matrix.
    row_of = np.empty(histogram.BUCKETS, dtype=np.int64)
    row_of[0] = 0
    row_of[1 : histogram.OVERFLOW] = (np.arange(1, histogram.OVERFLOW) - 1) // merge + 1
    row_of[histogram.OVERFLOW :] = rows - 1
    to_rows = np.zeros((histogram.BUCKETS, rows), dtype=np.int64)
    to_rows[np.arange(histogram.BUCKETS), row_of] = 1
    matrix = np.zeros((len(steps), rows), dtype=np.int64)
    at = np.asarray([step for _, step in latency.slots], dtype=np.int64)
    inside = (at >= 0) & (at < len(steps))
    np.add.at(matrix, at[inside], latency.dense[inside] @ to_rows)
    return steps, matrix


def line(values: dict[tuple[Any, int], dict[float, float]], key: Any, q: float, steps: int) -> list[float | None]:
    """One quantile of one key per chart step, None where the step had no requests."""
    return [values.get((key, i), {}).get(q) for i in range(steps)]


def top_keys(totals_map: dict[Any, Totals], n: int, measure: str = "requests") -> list[Any]:
    ranked = sorted(totals_map.items(), key=lambda kv: (-float(getattr(kv[1], measure)), str(kv[0])))
    return [k for k, _ in ranked[:n]]


def tenant_names(ids: set[Any]) -> dict[int, str]:
    return tenants.slugs_by_id([i for i in ids if i])


def group_rows(rows: list[tuple[Any, ...]]) -> dict[Any, list[tuple[Any, ...]]]:
    grouped: dict[Any, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        grouped[row[0]].append(row[1:])
    return grouped
