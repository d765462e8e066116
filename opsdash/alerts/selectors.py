"""Reads for alerts: the alerts a user may see, and the measurements the rules and the SLO
panels need. Spend and SLO numbers come from the rollup tables only, never raw events."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import numpy as np
from django.db import connection
from django.db.models import Case, Count, IntegerField, Max, QuerySet, Sum, Value, When
from django.http import Http404
from django.utils import timezone

from opsdash.accounts import access
from opsdash.alerts.models import Alert, Slo
from opsdash.evals.models import EvalRunMetric
from opsdash.lib import histogram, rollup_reads
from opsdash.lib.timerange import MINUTE_GRAIN_MAX_SPAN, TimeRange
from opsdash.telemetry import rollups
from opsdash.telemetry import selectors as telemetry
from opsdash.telemetry.filters import Filters
from opsdash.tenants.models import Tenant

# --- Alerts ---------------------------------------------------------------------------------


def visible_alerts(user: Any) -> QuerySet[Alert]:
    """Alerts of the tenants in the user's scope; those about no tenant only for users who
    see every tenant, eval alerts excepted (see access.alert_in_scope)."""
    alerts = Alert.objects.select_related("tenant", "acknowledged_by", "resolved_by")
    return access.scope_queryset(user, alerts, shared=access.everyones_alerts())


def alert_for(user: Any, alert_id: int) -> Alert:
    """The alert if the user may see it; 404 otherwise (its existence is not revealed)."""
    alert = visible_alerts(user).filter(pk=alert_id).first()
    if alert is None or not access.has_perm(user, "alerts.view_alert", alert):
        raise Http404("No such alert.")
    return alert


def filtered_alerts(user: Any, *, rule: str = "", severity: str = "", tenant: Tenant | None = None) -> QuerySet[Alert]:
    """The alerts ``user`` may see, narrowed to a rule, a severity and a tenant when given
    (in every state: the list's tabs count them per state)."""
    alerts = visible_alerts(user)
    if rule:
        alerts = alerts.filter(rule=rule)
    if severity:
        alerts = alerts.filter(severity=severity)
    if tenant is not None:
        alerts = alerts.filter(tenant=tenant)
    return alerts


def in_state(alerts: QuerySet[Alert], state: str) -> QuerySet[Alert]:
    """The alerts in ``state``, in the list's order: resolved ones by when they were
    resolved, the others by when they opened, newest first."""
    order = ("-resolved_at", "-id") if state == Alert.State.RESOLVED else ("-opened_at", "-id")
    return alerts.filter(state=state).order_by(*order)


def state_counts(alerts: QuerySet[Alert]) -> dict[str, int]:
    counts = dict(alerts.order_by().values_list("state").annotate(n=Count("id")).values_list("state", "n"))
    return {state: counts.get(state, 0) for state in Alert.State.values}


def open_alert_count(user: Any, tenant: Any = None) -> dict[str, int]:
    alerts = visible_alerts(user).exclude(state=Alert.State.RESOLVED)
    if tenant is not None:
        alerts = alerts.filter(tenant=tenant)
    counts = state_counts(alerts)
    critical = alerts.filter(state=Alert.State.OPEN, severity=Alert.Severity.CRITICAL).count()
    return {"open": counts[Alert.State.OPEN], "acknowledged": counts[Alert.State.ACKNOWLEDGED], "critical": critical}


# --- Open alerts (the overview's "Needs attention") -----------------------------------------

OPEN_ALERTS_LIMIT = 10
SEVERITY_ORDER = (Alert.Severity.CRITICAL, Alert.Severity.WARNING, Alert.Severity.INFO)
STATE_ORDER = (Alert.State.OPEN, Alert.State.ACKNOWLEDGED)


@dataclass(frozen=True)
class OpenAlert:
    """An unresolved alert as a list of what needs attention shows it."""

    pk: int
    rule: str
    subject: str  # the rule's own key, e.g. "model:gemini-2.0-flash"
    subject_kind: str  # route, model, tenant, flags (a tenant's flags of one kind), prompt
    subject_key: str  # /chat/answer, gemini-2.0-flash, globex, umbrella-health:jailbreak, support-reply@v8
    severity: str
    state: str  # open or acknowledged
    title: str
    opened_at: dt.datetime
    period: str
    tenant_slug: str
    slo: Slo | None
    link: str  # path and query of the page showing the subject, the trouble's window chosen

    @property
    def path(self) -> str:
        return self.link


def open_alerts(user: Any, tenant: Tenant | None = None, limit: int = OPEN_ALERTS_LIMIT) -> list[OpenAlert]:
    """The unresolved alerts ``user`` may see (of ``tenant`` only, when given): the most
    severe first (critical, warning, info), open before acknowledged, then the newest,
    then the highest id."""
    limit = max(1, min(int(limit), 100))
    alerts = visible_alerts(user).select_related("slo", "tenant").exclude(state=Alert.State.RESOLVED)
    if tenant is not None:
        alerts = alerts.filter(tenant=tenant)
    ranked = alerts.annotate(
        severity_rank=_rank("severity", SEVERITY_ORDER), state_rank=_rank("state", STATE_ORDER)
    ).order_by("severity_rank", "state_rank", "-opened_at", "-id")
    now = timezone.now()
    return [_open_alert(a, now) for a in ranked[:limit]]


def _rank(name: str, order: tuple[str, ...]) -> Case:
    whens = [When(**{name: value}, then=Value(i)) for i, value in enumerate(order)]
    return Case(*whens, default=Value(len(order)), output_field=IntegerField())


def subject_of(alert: Alert) -> tuple[str, str]:
    """(kind, key) of what the alert is about, as the pages name it."""
    tenant_slug = alert.tenant.slug if alert.tenant_id and alert.tenant else ""
    head, _, rest = alert.subject.partition(":")
    if alert.rule.startswith("slo.") and alert.slo is not None:
        return "route", alert.slo.route
    if alert.rule.startswith("budget."):
        return "tenant", tenant_slug
    if alert.rule == "safety.spike":
        return "flags", f"{tenant_slug}:{rest.partition(':')[2]}"
    if head in ("route", "model", "prompt"):
        return head, rest
    return head, rest or alert.subject


def _open_alert(alert: Alert, now: dt.datetime) -> OpenAlert:
    kind, key = subject_of(alert)
    return OpenAlert(
        pk=alert.pk,
        rule=alert.rule,
        subject=alert.subject,
        subject_kind=kind,
        subject_key=key,
        severity=alert.severity,
        state=alert.state,
        title=alert.title,
        opened_at=alert.opened_at,
        period=alert.period,
        tenant_slug=alert.tenant.slug if alert.tenant_id and alert.tenant else "",
        slo=alert.slo,
        link=ongoing_link(alert.path, now) if alert.path else f"/alerts/{alert.pk}/",
    )


def ongoing_link(path: str, now: dt.datetime) -> str:
    """An open alert's link with its custom range reaching the end of the present hour (the
    link was framed when the alert opened; the trouble may have lasted since). A range
    that starts before the minute rollups were kept thus spans more than a day, which the
    pages read per hour."""
    parts = urlsplit(path)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    if params.get("range") != "custom":
        return path
    try:
        lo = dt.datetime.fromisoformat(params["from"]).replace(tzinfo=dt.UTC)
        hi = dt.datetime.fromisoformat(params["to"]).replace(tzinfo=dt.UTC)
    except (KeyError, ValueError):
        return path
    present = _floor(now, dt.timedelta(hours=1)) + dt.timedelta(hours=1)
    hi = max(hi, present)
    params.update({"from": f"{lo:%Y-%m-%dT%H:%M}", "to": f"{hi:%Y-%m-%dT%H:%M}"})
    return f"{parts.path}?{urlencode(params, safe='/:@')}"


# --- Spend ----------------------------------------------------------------------------------


def _all_tenants(start: dt.datetime, end: dt.datetime) -> Filters:
    return Filters(range=TimeRange(start, end, "custom"), scope=None)


def spend_by_tenant(now: dt.datetime) -> dict[int, tuple[Decimal, Decimal]]:
    """(today, month to date) in USD per tenant with any spend, read as the cost page reads
    it (web/dashboards.tenant_cost_table), so an alert and the page it links to agree."""
    windows = telemetry.budget_windows(now)
    f = _all_tenants(windows["month"][0], now)
    spend = telemetry.totals_in_windows(f, "tenant", windows, measures=("cost_usd",))
    today, mtd = spend["today"], spend["month"]
    zero = Decimal(0)
    return {
        tenant_id: (today[tenant_id].cost_usd if tenant_id in today else zero, totals.cost_usd)
        for tenant_id, totals in mtd.items()
    }


# --- SLO measurements -----------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """Requests in a window, and the bad ones of each indicator."""

    requests: int = 0
    failed: int = 0  # errors and timeouts
    slow: float = 0.0  # slower than the SLO's latency target (interpolated inside one bucket)

    def error_rate(self) -> float | None:
        return self.failed / self.requests if self.requests else None

    def slow_rate(self) -> float | None:
        return self.slow / self.requests if self.requests else None


def _grouping(slo: Slo) -> int:
    return rollups.TENANT_ROUTE if slo.tenant_id else rollups.ROUTE


def _table(span: dt.timedelta) -> tuple[str, str]:
    """(grain, table) a window of this length reads, as the dashboards choose."""
    grain = "minute" if span <= MINUTE_GRAIN_MAX_SPAN else "hour"
    return grain, rollups.GRAINS[grain]


_floor = rollup_reads.floor


def slow_share_sql(target_ms: float) -> tuple[str, dict[str, Any]]:
    """SQL for the number of requests of one rollup row slower than ``target_ms``: whole
    buckets above it, and the part of its own bucket above it (log-linear, as quantiles
    are read)."""
    j = histogram.bucket_of(target_ms)
    if j == 0:
        part = 1.0 - target_ms / float(histogram.EDGES[0])
    elif j >= histogram.OVERFLOW:
        part = 0.0
    else:
        lo, hi = histogram.lower_bound(j), histogram.upper_bound(j)
        part = math.log(hi / target_ms) / math.log(hi / lo)
    sql = (
        "(SELECT coalesce(sum(CASE WHEN h.i > %(slow_bucket)s THEN h.c::float8 "
        "WHEN h.i = %(slow_bucket)s THEN h.c * %(slow_part)s ELSE 0 END), 0) "
        "FROM unnest(r.latency_hist_idx, r.latency_hist_cnt) AS h(i, c))"
    )
    return sql, {"slow_bucket": j, "slow_part": part}


def window_counts(slo: Slo, now: dt.datetime, windows: list[dt.timedelta]) -> dict[dt.timedelta, Counts]:
    """Counts of the SLO's route over each window ending at ``now``, one query per rollup table.

    A window starts at the first rollup row that overlaps it: tenant and route rows are
    hourly in the minute table (daily in the hour table), so for a tenant's SLO the short
    windows read the whole current hour.
    """
    grouping = _grouping(slo)
    by_table: dict[tuple[str, str], list[dt.timedelta]] = defaultdict(list)
    for window in windows:
        by_table[_table(window)].append(window)
    out: dict[dt.timedelta, Counts] = {}
    slow_sql, params = slow_share_sql(slo.latency_target_ms)
    for (grain, table), group in by_table.items():
        width = rollups.bucket_width(grain, grouping)
        starts = {w: _floor(now - w, width) for w in group}
        named: dict[str, Any] = {
            **params,
            "grouping": grouping,
            "tenant": slo.tenant_id or 0,
            "route": slo.route,
            "earliest": min(starts.values()),
            "end": now,
        }
        columns = []
        for i, w in enumerate(group):
            named[f"s{i}"] = starts[w]
            cond = f"FILTER (WHERE bucket >= %(s{i})s)"
            columns.append(f"sum(requests) {cond}, sum(errors + timeouts) {cond}, sum(slow) {cond}")
        sql = f"""
SELECT {", ".join(columns)}
FROM (
    SELECT bucket, requests, errors, timeouts, {slow_sql} AS slow
    FROM {table} r
    WHERE grouping = %(grouping)s AND tenant_id = %(tenant)s AND route = %(route)s
      AND bucket >= %(earliest)s AND bucket < %(end)s
) x"""
        with connection.cursor() as cursor:
            cursor.execute(sql, named)
            row = cursor.fetchone()
        for i, w in enumerate(group):
            requests, failed, slow = row[3 * i : 3 * i + 3]
            out[w] = Counts(int(requests or 0), int(failed or 0), float(slow or 0.0))
    return out


def hourly_quantiles(slo: Slo, end: dt.datetime, hours: int) -> list[float | None]:
    """The SLO's latency percentile in each of the ``hours`` whole UTC hours before ``end``
    (oldest first). None for an hour with too few requests to have that percentile: with
    fewer than 1 / (1 - q) of them, "p99" is only the slowest request."""
    end = end.replace(minute=0, second=0, microsecond=0)
    start = end - dt.timedelta(hours=hours)
    _, table = _table(end - start)
    sql = f"""
SELECT date_bin('1 hour', bucket, %(start)s) AS hour, h.i, sum(h.c)
FROM {table} r, unnest(r.latency_hist_idx, r.latency_hist_cnt) AS h(i, c)
WHERE grouping = %(grouping)s AND tenant_id = %(tenant)s AND route = %(route)s
  AND bucket >= %(start)s AND bucket < %(end)s
GROUP BY 1, 2"""
    named: dict[str, Any] = {
        "start": start,
        "end": end,
        "grouping": _grouping(slo),
        "tenant": slo.tenant_id or 0,
        "route": slo.route,
    }
    dense = np.zeros((hours, histogram.BUCKETS), dtype=np.int64)
    with connection.cursor() as cursor:
        cursor.execute(sql, named)
        for hour, index, count in cursor.fetchall():
            k = int((hour - start).total_seconds() // 3600)
            if 0 <= k < hours:
                dense[k, int(index)] += int(count)
    enough = math.ceil(1 / slo.latency_budget - 1e-9)
    return [
        histogram.quantiles_dense(dense[k], [slo.quantile])[0] if dense[k].sum() >= enough else None
        for k in range(hours)
    ]


# --- Error rates per route and model ---------------------------------------------------------

SUBJECT_GROUPINGS = {"route": rollups.ROUTE, "model": rollups.MODEL}


@dataclass(frozen=True)
class SubjectErrors:
    """A route's or model's requests and failures (over every tenant) in a recent window,
    and over the days before it (its baseline)."""

    by: str  # "route" or "model"
    key: str
    window: Counts
    baseline: Counts


def error_counts(now: dt.datetime, window: dt.timedelta, baseline: dt.timedelta) -> list[SubjectErrors]:
    """Per route and per model with requests in the ``window`` before ``now`` (read from the
    minute rollups, per minute), and their counts over the ``baseline`` before the window
    (whole hours, from the hour rollups); ordered by kind, then key. A window older than
    the minute rollups are kept (a replay of old traffic) is read from the hour rollups,
    from the start of its first hour."""
    start = _floor(now - window, dt.timedelta(minutes=1))
    base_end = _floor(start, dt.timedelta(hours=1))
    sql = """
SELECT grouping, CASE WHEN grouping = %(route)s THEN route ELSE model END, sum(requests), sum(errors + timeouts)
FROM {table}
WHERE grouping IN (%(route)s, %(model)s) AND tenant_id = 0 AND bucket >= %(start)s AND bucket < %(end)s
GROUP BY 1, 2"""
    named = {"route": rollups.ROUTE, "model": rollups.MODEL}
    by_grouping = {v: k for k, v in SUBJECT_GROUPINGS.items()}

    def read(table: str, lo: dt.datetime, hi: dt.datetime) -> dict[tuple[str, str], Counts]:
        with connection.cursor() as cursor:
            cursor.execute(sql.format(table=table), {**named, "start": lo, "end": hi})
            return {
                (by_grouping[grouping], key): Counts(int(requests or 0), int(failed or 0))
                for grouping, key, requests, failed in cursor.fetchall()
            }

    if start >= rollups.minute_cutoff(timezone.now()):
        recent = read(rollups.GRAINS["minute"], start, now)
    else:
        recent = read(rollups.GRAINS["hour"], base_end, now)
    before = read(rollups.GRAINS["hour"], base_end - baseline, base_end) if recent else {}
    return [
        SubjectErrors(by, key, counts, before.get((by, key), Counts()))
        for (by, key), counts in sorted(recent.items())
        if counts.requests
    ]


# --- SLO status for the pages ---------------------------------------------------------------

BURN_WINDOW = dt.timedelta(hours=1)


@dataclass(frozen=True)
class SloStatus:
    slo: Slo
    window: Counts
    recent: Counts  # the last hour
    current_latency: float | None  # the SLO's percentile over the last hour

    @property
    def error_budget_remaining(self) -> float | None:
        """Share of the window's error budget not spent yet (negative when overspent)."""
        rate = self.window.error_rate()
        return None if rate is None else 1 - rate / self.slo.error_budget

    @property
    def latency_budget_remaining(self) -> float | None:
        rate = self.window.slow_rate()
        return None if rate is None else 1 - rate / self.slo.latency_budget

    @property
    def error_burn(self) -> float | None:
        """How fast the last hour spends the error budget: 1 spends it exactly over the window."""
        rate = self.recent.error_rate()
        return None if rate is None else rate / self.slo.error_budget

    @property
    def latency_burn(self) -> float | None:
        rate = self.recent.slow_rate()
        return None if rate is None else rate / self.slo.latency_budget

    @property
    def worst_remaining(self) -> float | None:
        values = [v for v in (self.error_budget_remaining, self.latency_budget_remaining) if v is not None]
        return min(values) if values else None

    @property
    def latency_ok(self) -> bool | None:
        if self.current_latency is None:
            return None
        return self.current_latency <= self.slo.latency_target_ms

    @property
    def query(self) -> str:
        from urllib.parse import urlencode

        params = {"route": self.slo.route, "range": "24h"}
        if self.slo.tenant_id and self.slo.tenant:
            params["tenant"] = self.slo.tenant.slug
        return urlencode(params, safe="/")


def slo_status(slo: Slo, now: dt.datetime, *, recent: bool = True) -> SloStatus:
    """The SLO's budgets over its window; with ``recent``, also the last hour's burn and percentile."""
    window = dt.timedelta(days=slo.window_days)
    counts = window_counts(slo, now, [window, BURN_WINDOW] if recent else [window])
    current = None
    # With fewer requests than 1 / (1 - q), "p99" would only be the slowest one.
    if recent and counts[BURN_WINDOW].requests >= math.ceil(1 / slo.latency_budget - 1e-9):
        last_hour = Filters(
            range=TimeRange(now - BURN_WINDOW, now, "custom"), tenant=slo.tenant, route=slo.route, scope=None
        )
        current = telemetry.quantiles(last_hour, qs=(slo.quantile,)).get((None, 0), {}).get(slo.quantile)
    return SloStatus(slo, counts[window], counts.get(BURN_WINDOW, Counts()), current)


MAX_PANEL_SLOS = 20


def slos_in_view(f: Filters) -> QuerySet[Slo]:
    """Enabled SLOs whose numbers a page with these filters may show: the chosen tenant's,
    else those of the tenants in the user's scope; SLOs over every tenant only for users
    who see every tenant (and while no tenant is chosen). Narrowed to the route filter."""
    slos = Slo.objects.filter(enabled=True).select_related("tenant")
    if f.tenant is not None:
        slos = slos.filter(tenant=f.tenant)
    elif f.scope is not None:
        slos = slos.filter(tenant_id__in=f.scope)
    if f.route:
        slos = slos.filter(route=f.route)
    return slos.order_by("route", "tenant__slug")


def slo_statuses(f: Filters, now: dt.datetime, *, recent: bool = True) -> list[SloStatus]:
    return [slo_status(slo, now, recent=recent) for slo in slos_in_view(f)[:MAX_PANEL_SLOS]]


def manageable_slos(user: Any) -> QuerySet[Slo]:
    """SLOs an admin may change: their tenants' ones, and the global ones for global admins."""
    slos = Slo.objects.select_related("tenant").order_by("route", "tenant__slug")
    if access.may_see_global_numbers(user):
        return slos
    ids = access.scope_tenant_ids(user) or frozenset()
    return slos.filter(tenant_id__in=ids)


def managed_slo_or_404(user: Any, slo_id: int) -> Slo:
    """SLO ``slo_id`` if ``user`` may change it (see manageable_slos); 404 otherwise."""
    slo = manageable_slos(user).filter(pk=slo_id).first()
    if slo is None:
        raise Http404("No such SLO.")
    return slo


def budget_tenants(user: Any) -> list[Tenant]:
    """The tenants whose budgets ``user`` may set (those it administers), by slug."""
    return [
        t
        for t in access.visible_tenants(user).order_by("slug")
        if access.has_perm(user, "tenants.administer_tenant", t)
    ]


# --- Evals ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalRun:
    prompt_id: str
    prompt_version: str
    suite: str
    run_id: str
    ts: dt.datetime
    results: int
    passed: int

    @property
    def pass_rate(self) -> float:
        return self.passed / self.results if self.results else 1.0


def latest_eval_runs(since: dt.datetime, until: dt.datetime) -> dict[str, list[EvalRun]]:
    """Per prompt, the latest run of each suite of its newest version (the version with
    the most recent result between ``since`` and ``until``)."""
    rows = (
        EvalRunMetric.objects.filter(last_ts__gte=since, first_ts__lte=until)
        .values("prompt_id", "prompt_version", "suite", "run_id")
        .annotate(last=Max("last_ts"), total=Sum("results"), failed=Sum("failures"))
        .order_by()
    )
    runs = [
        EvalRun(
            r["prompt_id"],
            r["prompt_version"],
            r["suite"],
            r["run_id"],
            r["last"],
            r["total"],
            r["total"] - r["failed"],
        )
        for r in rows
    ]
    newest: dict[str, EvalRun] = {}
    for run in runs:
        if run.prompt_id not in newest or (run.ts, run.run_id) > (
            newest[run.prompt_id].ts,
            newest[run.prompt_id].run_id,
        ):
            newest[run.prompt_id] = run
    latest: dict[tuple[str, str], EvalRun] = {}
    for run in runs:
        if run.prompt_version != newest[run.prompt_id].prompt_version:
            continue
        key = (run.prompt_id, run.suite)
        if key not in latest or (run.ts, run.run_id) > (latest[key].ts, latest[key].run_id):
            latest[key] = run
    out: dict[str, list[EvalRun]] = defaultdict(list)
    for (prompt_id, _), run in sorted(latest.items()):
        out[prompt_id].append(run)
    return dict(out)
