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
    """Per route and per model and hour of the range, in one read: (by, key, hour (since
    the epoch), requests, failed, latency indexes, latency counts).

    Global groupings are read from the hour table, a row per key and hour; a tenant
    crossed with a route or model is kept per hour only in the minute table (per day in
    the hour table: see rollups), so a scoped user's hours come from there (a row per
    tenant and hour, added up by slot) and reach back as far as minute rows are kept.
    """
    parts, params = [], []
    for by in ("route", "model"):
        grouping = f.grouping(by)
        table = reads.MINUTE_TABLE if grouping in rollups.COARSE_GROUPINGS else reads.HOUR_TABLE
        where, where_params = reads._where(f, grouping, f.range.start, f.range.end, floor=False)
        idx, cnt = reads._elements_sql("latency_hist_idx"), reads._elements_sql("latency_hist_cnt")
        parts.append(
            f"SELECT %s::text AS by, {reads.DIM_COLUMN[by]} AS key, (extract(epoch FROM bucket) / 3600)::int, "
            "requests, errors + timeouts, "
            f"{idx}, {cnt} FROM {table} WHERE {where} AND {reads.DIM_COLUMN[by]} <> ''"
        )
        params += [by, *where_params]
    return reads._fetch_arrays(" UNION ALL ".join(parts), params)


def _dense(idx_blobs: tuple[bytes, ...], cnt_blobs: tuple[bytes, ...], slots: np.ndarray, n: int) -> np.ndarray:
    """``n`` dense latency histograms: row ``i``'s sparse arrays added to ``slots[i]``."""
    dense = np.zeros((n, histogram.BUCKETS), dtype=np.float64)
    has = np.fromiter(map(bool, idx_blobs), dtype=bool, count=len(idx_blobs))
    if not has.any():
        return dense
    idx, lengths = reads._elements([b for b in idx_blobs if b], reads.IDX_ELEMENT)
    cnt, _ = reads._elements([b for b in cnt_blobs if b], reads.CNT_ELEMENT)
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
    if not rows:
        return []
    by, key, hours, requests_, failed_, idx, cnt = zip(*rows, strict=True)
    # Number the subjects (by, key) and their hours, sorted; a scoped read has a row per
    # tenant in an hour, which share a slot.
    subjects = sorted(set(zip(by, key, strict=True)))
    number = {subject: i for i, subject in enumerate(subjects)}
    hour = np.fromiter(hours, dtype=np.int64, count=len(rows))
    subject_of_row = np.fromiter(map(number.__getitem__, zip(by, key, strict=True)), np.int64, len(rows))
    order_key = subject_of_row * (1 << 32) + (hour - hour.min())
    unique, first, slots = np.unique(order_key, return_index=True, return_inverse=True)
    n = len(unique)
    requests = np.bincount(slots, weights=np.fromiter(requests_, np.float64, len(rows)), minlength=n).astype(np.int64)
    failed = np.bincount(slots, weights=np.fromiter(failed_, np.float64, len(rows)), minlength=n).astype(np.int64)
    dense = _dense(idx, cnt, slots, n)
    # Quantiles only of the hours that count (at least min_requests): the others are neither
    # compared nor part of a baseline.
    p95 = np.full(n, np.nan)
    enough = requests >= min_requests
    if enough.any():
        p95[enough] = histogram.quantiles_matrix(dense[enough], (0.95,))[:, 0]
    slot_subject = unique >> 32
    bounds = np.flatnonzero(np.diff(slot_subject, prepend=-1))  # each subject's first slot
    found: list[Finding] = []
    for lo, hi in zip(bounds, [*bounds[1:], n], strict=True):
        subject_by, subject_key = subjects[int(slot_subject[lo])]
        part = slice(lo, hi)
        found += _key_findings(
            subject_by,
            str(subject_key),
            hour[first[part]],
            requests[part],
            failed[part],
            p95[part],
            dense[part],
            min_requests,
        )
    return found


def _hour(since_epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(since_epoch * 3600, dt.UTC)


def rollups_floor(value: dt.datetime) -> dt.datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def _key_findings(
    by: str,
    key: str,
    hours: np.ndarray,
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
    usual_p95 = float(np.median(p95[enough]))
    if usual_p95 > 0:
        with np.errstate(invalid="ignore"):
            ratio = np.where(enough, p95 / usual_p95, 0.0)
        # Requests per hour in the buckets wholly above the bar (the bucket holding it
        # counts too: a bucket is 4.4 % wide).
        bar = histogram.bucket_of(P95_FACTOR * usual_p95)
        slow = dense[:, bar:].sum(axis=1)
        hot = (np.nan_to_num(ratio) >= P95_FACTOR) & (slow >= LATENCY_MIN_SLOW)
        out += _runs("latency", by, key, hours, hot, ratio, p95, usual_p95, requests)
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
    out += _runs("errors", by, key, hours, hot, ratio, rate, usual_rate, requests)
    return out


def _runs(
    kind: str,
    by: str,
    key: str,
    hours: np.ndarray,
    hot: np.ndarray,
    ratio: np.ndarray,
    value: np.ndarray,
    baseline: float,
    requests: np.ndarray,
) -> list[Finding]:
    """Adjacent hot hours merged into one finding each, sized by the worst hour."""
    runs: list[list[tuple[int, int]]] = []  # (hour since the epoch, index) of adjacent hot hours
    for i in np.flatnonzero(hot):
        at = int(hours[i])
        if runs and at - runs[-1][-1][0] <= 1:
            runs[-1].append((at, int(i)))
        else:
            runs.append([(at, int(i))])
    out: list[Finding] = []
    for run in runs:
        # The worst hour; of equal ones, the first.
        worst = max(run, key=lambda item: (float(ratio[item[1]]), -item[0]))[1]
        out.append(
            Finding(
                kind=kind,
                by=by,
                key=key,
                start=_hour(run[0][0]),
                end=_hour(run[-1][0] + 1),
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
