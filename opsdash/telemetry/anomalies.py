"""Hours in which a route or a model ran far worse than it usually does, and days or
months a tenant spent past its budget: the telemetry half of "Needs attention" on the
overview (opsdash/web/attention.py). Read from the rollups only, never raw events.

A route's or model's *baseline* is its own usual hour over the lookback:

- latency: the median of its hourly p95s (hours with at least ``min_requests``). The
  median, not the p95 of the whole lookback, so an incident of a few hours does not
  raise the bar it is measured against;
- errors: its error rate (errors and timeouts over requests) over the whole lookback.

An hour is *anomalous* when it had at least ``min_requests`` requests and

- its p95 is at least ``P95_FACTOR`` times the baseline p95, and at least
  ``LATENCY_MIN_SLOW`` of its requests took that long (in a quiet hour of 25 calls, two
  timeouts make the p95; they are not an incident), or
- its error rate is at least ``ERROR_FACTOR`` times the baseline rate, at least
  ``ERROR_MIN_POINTS`` above it, with at least ``ERROR_MIN_FAILURES`` failed calls
  (so 2 failures among 20 calls of a route that fails 2 % of the time is not a burst).

Adjacent anomalous hours of one subject are one finding, sized by its worst hour.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from opsdash.lib import histogram
from opsdash.lib.timerange import TimeRange
from opsdash.telemetry import rollups
from opsdash.telemetry import selectors as reads
from opsdash.telemetry.filters import Filters
from opsdash.tenants import selectors as tenants

P95_FACTOR = 3.0
ERROR_FACTOR = 3.0
ERROR_MIN_POINTS = 0.10
ERROR_MIN_FAILURES = 10
LATENCY_MIN_SLOW = 5
MIN_REQUESTS = 20
# A baseline from fewer qualifying hours than this says too little to compare with.
BASELINE_MIN_HOURS = 6
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Finding:
    """One subject's anomalous hours [start, end) and the worst of them."""

    kind: str  # "latency" or "errors"
    by: str  # "route" or "model"
    key: str
    start: dt.datetime
    end: dt.datetime
    factor: float  # worst hour against the baseline
    value: float  # worst hour: p95 in ms, or error rate (0..1)
    baseline: float  # p95 in ms, or error rate
    requests: int  # requests in the worst hour


def _filters(scope: frozenset[int] | None, start: dt.datetime, end: dt.datetime) -> Filters:
    return Filters(range=TimeRange(start, end, "custom"), scope=scope)


def _hourly_rows(f: Filters) -> list[tuple[Any, ...]]:
    """(by, key, bucket, requests, failed, latency indexes, latency counts) per route and
    per model and hour of the range, in one read.

    Global groupings are read from the hour table, a row per key and hour; a tenant
    crossed with a route or model is kept per hour only in the minute table (per day in
    the hour table: see rollups), so a scoped user's hours come from there (a row per
    tenant, added up here) and reach back as far as minute rows are kept.
    """
    parts, params = [], []
    for by in ("route", "model"):
        grouping = f.grouping(by)
        table = reads.MINUTE_TABLE if grouping in rollups.COARSE_GROUPINGS else reads.HOUR_TABLE
        where, where_params = reads._where(f, grouping, f.range.start, f.range.end, floor=False)
        idx, cnt = reads._elements_sql("latency_hist_idx"), reads._elements_sql("latency_hist_cnt")
        parts.append(
            f"SELECT %s::text, {reads.DIM_COLUMN[by]}, bucket, requests, errors + timeouts, {idx}, {cnt} "
            f"FROM {table} WHERE {where}"
        )
        params += [by, *where_params]
    return reads._fetch_arrays(" UNION ALL ".join(parts), params)


def _dense(idx_blobs: list[bytes], cnt_blobs: list[bytes], slots: np.ndarray, n: int) -> np.ndarray:
    """``n`` dense latency histograms: row ``i``'s sparse arrays added to ``slots[i]``."""
    dense = np.zeros((n, histogram.BUCKETS), dtype=np.float64)
    has = np.asarray([bool(b) for b in idx_blobs], dtype=bool)
    if not has.any():
        return dense
    idx, lengths = reads._elements([b for b, h in zip(idx_blobs, has, strict=True) if h], reads.IDX_ELEMENT)
    cnt, _ = reads._elements([b for b, h in zip(cnt_blobs, has, strict=True) if h], reads.CNT_ELEMENT)
    where = np.repeat(slots[has], lengths) * histogram.BUCKETS + idx
    return np.bincount(where, weights=cnt.astype(np.float64), minlength=dense.size).reshape(dense.shape)


def hourly_findings(
    scope: frozenset[int] | None,
    start: dt.datetime,
    end: dt.datetime,
    *,
    min_requests: int = MIN_REQUESTS,
) -> list[Finding]:
    """Anomalous hours of every route and model of the tenants in ``scope`` (None: all)
    between ``start`` and ``end`` (whole hours), against each one's own baseline."""
    start = rollups_floor(start)
    rows = _hourly_rows(_filters(scope, start, end))
    # One slot per (by, key, hour): a scoped read has a row per tenant in it.
    slot_of: dict[tuple[str, Any, dt.datetime], int] = {}
    slots = np.fromiter(
        (slot_of.setdefault((r[0], r[1], r[2]), len(slot_of)) for r in rows), dtype=np.int64, count=len(rows)
    )
    n = len(slot_of)
    requests = np.bincount(slots, weights=[int(r[3] or 0) for r in rows], minlength=n).astype(np.int64)
    failed = np.bincount(slots, weights=[int(r[4] or 0) for r in rows], minlength=n).astype(np.int64)
    dense = _dense([r[5] for r in rows], [r[6] for r in rows], slots, n)
    p95 = histogram.quantiles_matrix(dense, (0.95,))[:, 0] if n else np.zeros(0)
    bucket_at = [bucket for _, _, bucket in slot_of]  # slots were numbered in this order
    by_key: dict[tuple[str, Any], list[int]] = {}
    for (by, key, _), i in slot_of.items():
        by_key.setdefault((by, key), []).append(i)
    found: list[Finding] = []
    for (by, key), picked in by_key.items():
        if key in (None, ""):
            continue
        sel = np.asarray(picked)
        buckets = [bucket_at[i] for i in picked]
        found += _key_findings(by, str(key), buckets, requests[sel], failed[sel], p95[sel], dense[sel], min_requests)
    return found


def rollups_floor(value: dt.datetime) -> dt.datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def _key_findings(
    by: str,
    key: str,
    buckets: list[dt.datetime],
    requests: np.ndarray,
    failed: np.ndarray,
    p95: np.ndarray,
    dense: np.ndarray,
    min_requests: int,
) -> list[Finding]:
    enough = requests >= min_requests
    if int(enough.sum()) < BASELINE_MIN_HOURS:
        return []
    out: list[Finding] = []
    usual_p95 = float(np.median(np.nan_to_num(p95[enough])))
    if usual_p95 > 0:
        with np.errstate(invalid="ignore"):
            ratio = np.where(enough, p95 / usual_p95, 0.0)
        # Requests per hour in the buckets wholly above the bar (the bucket holding it
        # counts too: a bucket is 4.4 % wide).
        bar = histogram.bucket_of(P95_FACTOR * usual_p95)
        slow = dense[:, bar:].sum(axis=1)
        hot = (np.nan_to_num(ratio) >= P95_FACTOR) & (slow >= LATENCY_MIN_SLOW)
        out += _runs("latency", by, key, buckets, hot, ratio, p95, usual_p95, requests)
    usual_rate = float(failed[enough].sum() / requests[enough].sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(requests > 0, failed / np.maximum(requests, 1), 0.0)
    hot = (
        enough
        & (failed >= ERROR_MIN_FAILURES)
        & (rate >= ERROR_FACTOR * usual_rate)
        & (rate - usual_rate >= ERROR_MIN_POINTS)
    )
    # Against a route that never failed, a burst is as many times worse as it has failures.
    ratio = rate / usual_rate if usual_rate > 0 else failed.astype(np.float64)
    out += _runs("errors", by, key, buckets, hot, ratio, rate, usual_rate, requests)
    return out


def _runs(
    kind: str,
    by: str,
    key: str,
    buckets: list[dt.datetime],
    hot: np.ndarray,
    ratio: np.ndarray,
    value: np.ndarray,
    baseline: float,
    requests: np.ndarray,
) -> list[Finding]:
    """Adjacent hot hours merged into one finding each, sized by the worst hour."""
    hours = sorted((buckets[i], int(i)) for i in np.flatnonzero(hot))
    runs: list[list[tuple[dt.datetime, int]]] = []
    for at, i in hours:
        if runs and at - runs[-1][-1][0] <= HOUR:
            runs[-1].append((at, i))
        else:
            runs.append([(at, i)])
    out: list[Finding] = []
    for run in runs:
        # The worst hour; of equal ones, the first.
        worst = max(run, key=lambda item: (float(ratio[item[1]]), -item[0].timestamp()))[1]
        out.append(
            Finding(
                kind=kind,
                by=by,
                key=key,
                start=run[0][0],
                end=run[-1][0] + HOUR,
                factor=float(ratio[worst]),
                value=float(value[worst]),
                baseline=baseline,
                requests=int(requests[worst]),
            )
        )
    return out


# --- Budgets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overspend:
    """A tenant's spend past its daily budget on one UTC day, or its monthly one in a month."""

    tenant_id: int
    slug: str
    period: str  # "day" or "month"
    start: dt.datetime  # the day's or month's first instant (UTC)
    spent: Decimal
    budget: Decimal

    @property
    def used(self) -> float:
        return float(self.spent / self.budget)

    @property
    def label(self) -> str:
        """The budget period as the budget alerts name it (2026-11-20, 2026-11)."""
        return f"{self.start:%Y-%m-%d}" if self.period == "day" else f"{self.start:%Y-%m}"


def _month_start(value: dt.datetime) -> dt.datetime:
    return value.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def overspends(scope: frozenset[int] | None, start: dt.datetime, now: dt.datetime) -> list[Overspend]:
    """Days from ``start`` to now on which a tenant in scope spent at least its daily
    budget, and months touching that time in which it spent at least its monthly one (a
    month counted from its first day, as the budget alerts count it)."""
    budgeted = [
        t for t in tenants.tenants_in(scope) if t.daily_budget_usd is not None or t.monthly_budget_usd is not None
    ]
    if not budgeted:
        return []
    ids = frozenset(t.pk for t in budgeted)
    first_day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    windows: dict[str, tuple[dt.datetime, dt.datetime]] = {}
    day = first_day
    while day <= now:
        windows[f"day:{day:%Y-%m-%d}"] = (day, min(day + DAY, now + dt.timedelta(minutes=1)))
        day += DAY
    month = _month_start(first_day)
    while month <= now:
        following = _month_start(month + dt.timedelta(days=32))
        windows[f"month:{month:%Y-%m}"] = (month, min(following, now + HOUR))
        month = following
    f = _filters(ids, first_day, now + dt.timedelta(minutes=1))
    spend = reads.totals_in_windows(f, "tenant", windows, measures=("cost_usd",))
    out: list[Overspend] = []
    for name, (lo, _) in windows.items():
        period = name.split(":", 1)[0]
        for tenant in budgeted:
            budget = tenant.daily_budget_usd if period == "day" else tenant.monthly_budget_usd
            spent = spend[name].get(tenant.pk, reads.Totals()).cost_usd
            if budget and spent >= budget:
                out.append(Overspend(tenant.pk, tenant.slug, period, lo, spent, Decimal(budget)))
    return out
