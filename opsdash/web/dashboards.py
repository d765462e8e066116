"""What the overview, latency and cost pages show, assembled from selectors and charts.

Views stay thin: each page is one function here returning its template context.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np
from django.utils import timezone

from opsdash.alerts.selectors import slo_statuses
from opsdash.telemetry import selectors
from opsdash.telemetry.filters import Filters
from opsdash.tenants import selectors as tenant_reads
from opsdash.web import charts

BREAKDOWNS = ("route", "model", "prompt")
TOP = 6
STACKED_TENANTS = 8
# Error-rate charts: a line for each of the routes (models) with the most failed requests,
# and one for all the others.
ERROR_TOP = 6
# Budget chart: the tenants nearest to (or furthest past) a budget.
BUDGET_BARS = 12


def _label(by: str, key: Any, names: dict[int, str]) -> str:
    if by == "tenant":
        return names.get(key, str(key))
    return str(key)


def _change(now: float | None, before: float | None) -> float | None:
    if now is None or before in (None, 0):
        return None
    return (now - before) / before  # type: ignore[operator]


def overview(f: Filters) -> dict[str, Any]:
    current = selectors.totals(f)
    previous = selectors.totals(f, f.range.previous().start, f.range.previous().end)
    # A sparkline is a trend: beyond a week one point per day (read from the day rollups).
    spark_step = dt.timedelta(days=1) if f.range.span > dt.timedelta(days=7) else None
    s = selectors.series(f, None, ("requests", "errors", "timeouts", "cost_usd"), step=spark_step)
    row = s.by_key.get(None, {m: np.zeros(len(s.steps)) for m in ("requests", "errors", "timeouts", "cost_usd")})
    with np.errstate(divide="ignore", invalid="ignore"):
        error_rate = np.where(row["requests"] > 0, (row["errors"] + row["timeouts"]) / row["requests"], np.nan)
    p95_by_step = selectors.quantiles(f, qs=(0.95,), per_step=True, step=spark_step)
    p95_line = selectors.line(p95_by_step, None, 0.95, len(s.steps))
    return {
        "current": current,
        "previous": previous,
        "requests_change": _change(current.requests, previous.requests),
        "p95_change": _change(current.p95, previous.p95),
        "spark_requests": charts.sparkline(s.steps, row["requests"]),
        "spark_errors": charts.sparkline(s.steps, np.nan_to_num(error_rate) * 100, color="#D55E00"),
        "spark_p95": charts.sparkline(s.steps, [v or 0 for v in p95_line], color="#E69F00"),
        "spark_cost": charts.sparkline(s.steps, row["cost_usd"], color="#009E73"),
        "spend": spend_today(f),
    }


def spend_today(f: Filters, now: dt.datetime | None = None) -> dict[str, Any]:
    """Spend since 00:00 UTC against the sum of the daily budgets of the tenants in view."""
    now = now or timezone.now()
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    spent = selectors.totals(f, day, now + dt.timedelta(minutes=1), with_quantiles=False).cost_usd
    budget = sum((t.daily_budget_usd or Decimal(0) for t in tenant_reads.tenants_in(f.tenant_ids())), Decimal(0))
    return {"spent": spent, "budget": budget or None, "ratio": float(spent / budget) if budget else None}


def slo_panel(f: Filters, now: dt.datetime | None = None) -> dict[str, Any]:
    """The SLOs in view with their error budgets and burn rates (opsdash/alerts), and the
    target to draw on the percentile chart when the page shows exactly one SLO's route."""
    statuses = slo_statuses(f, now or timezone.now())
    line = float(statuses[0].slo.latency_target_ms) if f.route and len(statuses) == 1 else None
    return {"slos": statuses, "slo_line_ms": line}


def latency(f: Filters, by: str) -> dict[str, Any]:
    slos = slo_panel(f)
    # Beyond a week the charts have a column per day (as the cost and safety charts do),
    # read from the day rollups: a month of hour rows carried some 400,000 histogram
    # elements and was half of a 30-day page.
    step = dt.timedelta(days=1) if f.range.span > dt.timedelta(days=7) else None
    ax = selectors.axis(f, f.grouping(None), step)
    hist = selectors.histograms(f, columns=("latency", "ttft"), per_step=True, step=step)
    steps, heat = selectors.heatmap_counts(f, charts.HEATMAP_MERGE, hist["latency"], step=step)
    n = len(steps)
    per_step = selectors.quantiles_of(hist["latency"], (0.5, 0.95, 0.99))
    ttft = selectors.quantiles_of(hist["ttft"], (0.5, 0.95))
    q = {p: selectors.line(per_step, None, p, n) for p in (0.5, 0.95, 0.99)}
    tq = {p: selectors.line(ttft, None, p, n) for p in (0.5, 0.95)}

    context: dict[str, Any] = {
        "has_data": bool(heat.sum()),
        "chart_step": ax.step,
        "heatmap": charts.latency_heatmap(steps, heat),
        "quantiles": charts.quantile_lines(
            steps, {"p50": q[0.5], "p95": q[0.95], "p99": q[0.99]}, slo_ms=slos["slo_line_ms"]
        ),
        "ttft": charts.quantile_lines(steps, {"TTFT p50": tq[0.5], "TTFT p95": tq[0.95]}, "time to first token (ms)"),
        # The rollups group by one of route, model or prompt: narrowed to a route, the
        # rates by model are not there to read (and the other way round).
        "errors_by_route": error_rates(f, "route", step) if f.narrowed_by in (None, "route") else None,
        "errors_by_model": error_rates(f, "model", step) if f.narrowed_by in (None, "model") else None,
        "quantile_rows": [
            {"t": t, "p50": q[0.5][i], "p95": q[0.95][i], "p99": q[0.99][i], "ttft_p95": tq[0.95][i]}
            for i, t in enumerate(steps)
            if q[0.5][i] is not None
        ],
        "by": by,
        **slos,
    }
    if f.narrowed_by == by:
        context["breakdown"] = None
        context["slowest"] = []
        return context
    current = selectors.totals_by(f, by)
    previous_range = f.range.previous()
    previous = selectors.totals_by(f, by, previous_range.start, previous_range.end)
    top = selectors.top_keys(current, TOP)
    # One point per day from a week up: a trend per key, read from the day rollups (the
    # hour-by-hour detail is in the heatmap and the percentile lines above). Within a
    # tenant the breakdown rows are hourly or daily: its axis may be coarser.
    step = dt.timedelta(days=1) if f.range.span >= dt.timedelta(days=7) else None
    per_key = selectors.quantiles(f, by, qs=(0.95,), per_step=True, keys=top, step=step)
    by_steps = selectors.axis(f, f.grouping(by), step).steps
    lines = {str(key): selectors.line(per_key, key, 0.95, len(by_steps)) for key in top}
    context["breakdown"] = charts.quantile_lines(by_steps, lines, f"p95 latency by {by} (ms)")
    rows = []
    for key, tot in current.items():
        before = previous.get(key)
        p95 = tot.p95
        prev_p95 = before.p95 if before else None
        rows.append(
            {
                "key": key,
                "p50": tot.quantile(0.5),
                "p95": p95,
                "p99": tot.quantile(0.99),
                "previous_p95": prev_p95,
                "change": _change(p95, prev_p95),
                "requests": tot.requests,
                "error_rate": tot.error_rate,
                "query": f.query(**{by: key}),
            }
        )
    # Slowest first; equal p95 (one histogram bucket) by name, so the table has one order.
    rows.sort(key=lambda r: (-(r["p95"] or 0), str(r["key"])))
    context["slowest"] = rows[:20]
    return context


def rank_failing(failed: dict[Any, float], requests: dict[Any, float], n: int) -> list[Any]:
    """The ``n`` keys with the most failed requests; equal counts by more requests, then name."""
    ranked = sorted((k for k in failed if failed[k] > 0), key=lambda k: (-failed[k], -requests.get(k, 0), str(k)))
    return ranked[:n]


def error_rates(f: Filters, by: str, step: dt.timedelta | None) -> dict[str, Any]:
    """Failed requests (errors and timeouts) per step as a share of requests, for the
    ERROR_TOP values of ``by`` with the most failures and one line for the rest."""
    s = selectors.series(f, by, ("requests", "errors", "timeouts"), step=step)
    n = len(s.steps)
    requests = {k: float(v["requests"].sum()) for k, v in s.by_key.items()}
    failed = {k: float((v["errors"] + v["timeouts"]).sum()) for k, v in s.by_key.items()}
    top = rank_failing(failed, requests, ERROR_TOP)
    rest = [k for k in s.by_key if k not in top]
    groups: dict[str, list[Any]] = {str(k): [k] for k in top}
    if len(rest) == 1:  # one more key is itself, not "other"
        groups[str(rest[0])] = rest
    elif rest:
        groups["other"] = rest
    rates: dict[str, list[float | None]] = {}
    volumes: dict[str, list[float]] = {}
    for name, keys in groups.items():
        req = np.sum([s.by_key[k]["requests"] for k in keys], axis=0) if keys else np.zeros(n)
        bad = np.sum([s.by_key[k]["errors"] + s.by_key[k]["timeouts"] for k in keys], axis=0) if keys else np.zeros(n)
        rates[name] = [float(b / r) if r > 0 else None for b, r in zip(bad, req, strict=True)]
        volumes[name] = [float(r) for r in req]
    return charts.error_rate_lines(s.steps, rates, volumes, by)


def rank_models(by_model: dict[Any, selectors.Totals]) -> list[tuple[Any, selectors.Totals]]:
    """Models by cost, most first; equal cost by more requests, then name."""
    return sorted(by_model.items(), key=lambda kv: (-float(kv[1].cost_usd), -kv[1].requests, str(kv[0])))


def rank_budget_use(table: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The ``n`` tenants with a budget that have used the most of one (today's or the
    month's share, whichever is larger); equal shares by slug."""
    with_budget = [r for r in table if r["used_today"] is not None or r["used"] is not None]
    ranked = sorted(with_budget, key=lambda r: (-max(r["used_today"] or 0.0, r["used"] or 0.0), r["tenant"].slug))
    return ranked[:n]


def cost(f: Filters, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    table = tenant_cost_table(f, now)
    # Spend is read per day (the budgets are daily and monthly); a day or two per hour step.
    step = dt.timedelta(days=1) if f.range.span > dt.timedelta(days=2) else None
    # The biggest spenders of the range get a bar each, the rest one bar: read per step for
    # those tenants only, and the rest as everything less them.
    ranked = sorted((r for r in table if r["totals"].requests), key=lambda r: (-r["totals"].cost_usd, r["tenant"].slug))
    top = [r["tenant"] for r in ranked[:STACKED_TENANTS]]
    stacks: dict[str, np.ndarray] = {}
    if top:
        only_top = dataclasses.replace(f, tenant=None, scope=frozenset(t.pk for t in top))
        per_tenant = selectors.series(only_top, "tenant", ("cost_usd",), step=step)
        for tenant in top:
            if tenant.pk in per_tenant.by_key:
                stacks[tenant.slug] = per_tenant.by_key[tenant.pk]["cost_usd"]
    everyone = selectors.series(f, None, ("cost_usd",), step=step)
    steps = everyone.steps
    if len(ranked) > STACKED_TENANTS:
        total = everyone.by_key.get(None, {"cost_usd": np.zeros(len(steps))})["cost_usd"]
        # Sums of float8 in a different order: clear the rounding dust, never a real cent.
        rest = total - np.sum(list(stacks.values()), axis=0) if stacks else total
        stacks["other tenants"] = np.where(np.abs(rest) < 1e-9, 0.0, rest)

    by_model = selectors.totals_by(f, "model", with_quantiles=False)
    model_rows = rank_models(by_model)
    unknown = sum(t.cost_unknown for t in by_model.values())
    budget_rows = rank_budget_use(table, BUDGET_BARS)
    return {
        "stacked": charts.stacked_cost(steps, stacks, {t.slug: charts.tenant_colour(t.pk) for t in top}),
        "has_data": bool(ranked),
        "by_model": charts.bars(
            [str(k) for k, _ in model_rows], [float(t.cost_usd) for _, t in model_rows], "cost (USD)", "$"
        ),
        "model_rows": [{"model": k, "totals": t} for k, t in model_rows],
        "tenant_rows": table,
        "unknown_cost_requests": unknown,
        "budget_rows": budget_rows,
        "over_budget": [r for r in budget_rows if (r["used_today"] or 0) > 1 or (r["used"] or 0) > 1],
        "budget_chart": charts.budget_bars(
            [r["tenant"].slug for r in budget_rows],
            [r["used_today"] for r in budget_rows],
            [r["used"] for r in budget_rows],
        )
        if budget_rows
        else None,
    }


def tenant_cost_table(f: Filters, now: dt.datetime) -> list[dict[str, Any]]:
    """Per tenant in view: range totals, today, month to date, budgets, forecast."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    next_month = (month + dt.timedelta(days=32)).replace(day=1)
    # Forecast: month to date plus the daily average of the last 7 full days, for the days left.
    week_start = max(day - dt.timedelta(days=7), month - dt.timedelta(days=7))
    # Only money for today, the month and the last week; all windows in one round trip.
    spend = selectors.totals_in_windows(
        f, "tenant", {**selectors.budget_windows(now), "recent": (week_start, day)}, measures=("cost_usd",)
    )
    today, mtd, recent = spend["today"], spend["month"], spend["recent"]
    in_range = selectors.totals_by(f, "tenant", with_quantiles=False)
    days_in_recent = max((day - week_start).days, 1)
    days_left = (next_month - now).total_seconds() / 86400

    rows: list[dict[str, Any]] = []
    for tenant in tenant_reads.tenants_in(f.tenant_ids()):
        tot = in_range.get(tenant.pk, selectors.Totals())
        month_cost = mtd.get(tenant.pk, selectors.Totals()).cost_usd
        daily_avg = recent.get(tenant.pk, selectors.Totals()).cost_usd / days_in_recent
        forecast = month_cost + daily_avg * Decimal(str(round(days_left, 4)))
        budget = tenant.monthly_budget_usd
        day_cost = today.get(tenant.pk, selectors.Totals()).cost_usd
        rows.append(
            {
                "tenant": tenant,
                "totals": tot,
                "today": day_cost,
                "month": month_cost,
                "daily_budget": tenant.daily_budget_usd,
                "monthly_budget": budget,
                # Shares of the budgets used: today's of the daily, the month's of the monthly.
                "used_today": float(day_cost / tenant.daily_budget_usd) if tenant.daily_budget_usd else None,
                "used": float(month_cost / budget) if budget else None,
                "forecast": forecast,
                "forecast_over": bool(budget and forecast > budget),
            }
        )
    # Biggest month to date first; early in a month, when that is near nothing for all,
    # spend in the range decides (then the slug).
    rows.sort(key=lambda r: (-float(r["month"]), -float(r["totals"].cost_usd or 0), r["tenant"].slug))
    return rows
