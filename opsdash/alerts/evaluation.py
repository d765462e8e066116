"""The evaluation: every minute (beat) the rules look at the rollups and eval results and
bring the alerts in line with what they see. It is idempotent: run it twice at the same
instant and the second run changes nothing.

Rules
- ``budget.daily`` / ``budget.monthly``: a tenant's spend today / this month (UTC, from the
  rollups, as the cost page shows it) against its budget, at each threshold of
  OPSDASH_BUDGET_ALERT_THRESHOLDS. One alert per tenant and rule at a time: crossing a
  higher threshold resolves the lower one ("superseded") and opens the higher, so the open
  list shows each tenant's budget once, at its current level. Each threshold is raised at
  most once per period; a jump past several thresholds raises only the highest. When the
  day or month ends, its alert resolves ("period ended") and the new period starts clean.
- Hard stop (Tenant.hard_stop): at 100 % of either budget the tenant is paused through the
  pause action, requested by the system (actions.services.request_system_run). The pause
  run is recorded on the alert. When that period ends, the tenant is resumed the same way
  if, and only if, it is still paused by that run: nobody resumed or paused it by hand
  since. If the other budget is used up too, the pause is handed to that alert instead.
- ``slo.burn_fast`` / ``slo.burn_slow``: multi-window burn rates, per SLO and indicator
  (errors, latency). The burn rate is the bad share of requests over the share the
  objective allows (1 spends the budget exactly over the SLO's window). Fast: the last
  hour and the last 5 minutes both at 14.4× or more; slow: the last 6 hours and the last
  30 minutes both at 6× or more, with at least 2 bad requests in the short window. Quiet
  once the long window burns under half that.
- ``slo.latency_sustained``: the SLO's percentile above its target in each of the last 3
  whole UTC hours; quiet once the last whole hour is under 90 % of the target.
- ``eval.failing``: per prompt, the latest run of each suite of its newest version; any
  passing less than OPSDASH_EVAL_ALERT_MIN_PASS_RATE % raises one alert for that version.
  Quiet once every such run passes at least 5 points more (or a newer version does).
- ``errors.burst`` and ``safety.spike``: see opsdash/alerts/bursts.py.

Hysteresis (opsdash/alerts/hysteresis.py): every rule has a threshold to open and a lower
one to resolve; an alert resolves only after its condition stayed under the lower one for
OPSDASH_ALERT_QUIET_MINUTES, so it can open again only after such a quiet stretch. One
that comes back within 30 minutes of resolving is reopened, not raised again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from opsdash.actions import services as actions
from opsdash.actions.models import ActionRun
from opsdash.alerts import bursts, selectors
from opsdash.alerts.hysteresis import Report, settle
from opsdash.alerts.models import Alert, Slo
from opsdash.alerts.services import Raised, open_or_keep, quiet, resolve
from opsdash.audit.services import record_event
from opsdash.tenants.models import Tenant

log = logging.getLogger(__name__)

DAILY, MONTHLY = "budget.daily", "budget.monthly"
BUDGET_RULES = (DAILY, MONTHLY)
BURN_FAST, BURN_SLOW, LATENCY_SUSTAINED = "slo.burn_fast", "slo.burn_slow", "slo.latency_sustained"
SLO_RULES = (BURN_FAST, BURN_SLOW, LATENCY_SUSTAINED)
EVAL_FAILING = "eval.failing"

# (rule, long window, short window, burn rate both must reach, severity)
BURNS = (
    (BURN_FAST, dt.timedelta(hours=1), dt.timedelta(minutes=5), 14.4, Alert.Severity.CRITICAL),
    (BURN_SLOW, dt.timedelta(hours=6), dt.timedelta(minutes=30), 6.0, Alert.Severity.WARNING),
)
# Fewer requests than this in the long window is too little evidence to page anyone; so is
# a short window with fewer bad requests than this (one slow request among the dozen of a
# quiet half hour is not a burn).
MIN_REQUESTS = 10
MIN_BAD_TO_OPEN = 2
# Hysteresis (see hysteresis.py). A burn alert stays open while its long window burns at
# least this share of the rate that opens it: the short window, which opens it, would let
# it go with the first calm minutes and open it again with the next few slow requests. A
# sustained-latency alert stays open while the last whole hour is above this share of the
# target; an eval alert while a run passes less than the floor plus this many points; a
# budget alert while the spend is at most this many points under its threshold.
BURN_RESOLVE_SHARE = 0.5
SUSTAINED_HOURS = 3
SUSTAINED_RESOLVE_SHARE = 0.9
EVAL_LOOKBACK = dt.timedelta(days=7)
EVAL_RESOLVE_POINTS = 5
BUDGET_RESOLVE_POINTS = 5

# Only one evaluation at a time; a second one (beat overlapping a slow run) skips.
_EVAL_LOCK = 7_301_101
STATEMENT_TIMEOUT_MS = 30_000

PARTS = ("budgets", "slos", "evals", "errors", "safety")


def evaluate(now: dt.datetime | None = None, *, parts: Iterable[str] = PARTS, notify: bool = True) -> Report | None:
    """Evaluate every rule at ``now``; None when another evaluation is running."""
    now = now or timezone.now()
    report = Report()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_EVAL_LOCK])
            if not cursor.fetchone()[0]:
                return None
            cursor.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
        steps = {
            "budgets": evaluate_budgets,
            "slos": evaluate_slos,
            "evals": evaluate_evals,
            "errors": bursts.evaluate_error_bursts,
            "safety": bursts.evaluate_flag_spikes,
        }
        for name in parts:
            try:
                # A failing part (a query timing out) rolls back alone; the others still apply.
                with transaction.atomic():
                    steps[name](now, report, notify)
            except Exception:
                log.exception("alert evaluation of %s failed", name)
                report.failed.append(name)
    return report


def _resolve(alert: Alert, reason: str, now: dt.datetime, report: Report, notify: bool) -> None:
    resolve(alert, reason=reason, now=now, notify=notify)
    report.resolved += 1


def _money(value: Decimal) -> str:
    return f"${value:,.2f}"


# --- Budgets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetUse:
    rule: str
    budget: Decimal | None
    spent: Decimal
    period: str

    @property
    def percent(self) -> float | None:
        return float(self.spent / self.budget * 100) if self.budget else None

    @property
    def word(self) -> str:
        return "daily" if self.rule == DAILY else "monthly"

    @property
    def unit(self) -> str:
        return "day" if self.rule == DAILY else "month"


def periods(now: dt.datetime) -> dict[str, str]:
    return {DAILY: now.strftime("%Y-%m-%d"), MONTHLY: now.strftime("%Y-%m")}


def _severity(level: int, thresholds: list[int]) -> str:
    if level >= 100:
        return Alert.Severity.CRITICAL
    below = [t for t in thresholds if t < 100]
    return Alert.Severity.WARNING if below and level == below[-1] else Alert.Severity.INFO


def _budget_alert(tenant: Tenant, use: BudgetUse, level: int, thresholds: list[int]) -> Raised:
    percent = use.percent or 0.0
    where = "today" if use.rule == DAILY else "this month"
    detail = (
        f"{tenant.name} ({tenant.slug}) has spent {_money(use.spent)} {where} ({use.period}, UTC): "
        f"{percent:.0f} % of its {use.word} budget of {_money(use.budget or Decimal(0))}, past the {level} % "
        f"threshold. Alerts at {', '.join(str(t) for t in thresholds)} % of the budget, each once per {use.unit}."
    )
    if percent >= 100:
        detail += (
            " Hard stop is on: the tenant is paused until the " + use.unit + " is over."
            if tenant.hard_stop
            else " Hard stop is off: the tenant keeps running."
        )
    query = urlencode({"tenant": tenant.slug, "range": "24h" if use.rule == DAILY else "30d"})
    return Raised(
        rule=use.rule,
        subject=f"tenant:{tenant.pk}",
        severity=_severity(level, thresholds),
        title=(
            f"{tenant.slug}: {percent:.0f} % of the {use.word} budget used "
            f"({_money(use.spent)} of {_money(use.budget or Decimal(0))})"
        ),
        detail=detail,
        path=f"/cost/?{query}",
        tenant=tenant,
        period=use.period,
        level=level,
    )


def evaluate_budgets(now: dt.datetime, report: Report, notify: bool = True) -> None:
    thresholds = list(settings.OPSDASH_BUDGET_ALERT_THRESHOLDS)
    spend = selectors.spend_by_tenant(now)
    current_periods = periods(now)
    unresolved = {
        (a.rule, a.tenant_id): a
        for a in Alert.objects.filter(rule__in=BUDGET_RULES).exclude(state=Alert.State.RESOLVED)
    }
    holding = set(
        Alert.objects.filter(rule__in=BUDGET_RULES, hard_stop_at__isnull=False, hard_stop_ended_at__isnull=True)
        .values_list("tenant_id", flat=True)
        .distinct()
    )
    involved = {tenant_id for _, tenant_id in unresolved} | holding
    tenants = Tenant.objects.filter(
        Q(daily_budget_usd__isnull=False) | Q(monthly_budget_usd__isnull=False) | Q(pk__in=involved)
    ).order_by("pk")
    zero = Decimal(0)
    for tenant in tenants:
        today, month = spend.get(tenant.pk, (zero, zero))
        uses = {
            DAILY: BudgetUse(DAILY, tenant.daily_budget_usd, today, current_periods[DAILY]),
            MONTHLY: BudgetUse(MONTHLY, tenant.monthly_budget_usd, month, current_periods[MONTHLY]),
        }
        for rule, use in uses.items():
            _budget_rule(tenant, use, unresolved.get((rule, tenant.pk)), thresholds, now, report, notify)
        if tenant.pk in holding:
            _release_hard_stops(tenant, uses, now, report)


def _budget_rule(
    tenant: Tenant,
    use: BudgetUse,
    current: Alert | None,
    thresholds: list[int],
    now: dt.datetime,
    report: Report,
    notify: bool,
) -> None:
    if current is not None and current.period != use.period:
        _resolve(current, f"the {use.unit} {current.period} ended", now, report, notify)
        current = None
    percent = use.percent
    if percent is None:
        if current is not None:
            _resolve(current, f"no {use.word} budget any more", now, report, notify)
        return
    level = max((t for t in thresholds if percent >= t), default=None)
    if current is not None and (level is None or (current.level or 0) > level):
        # Spend back under the alert's threshold (the budget was raised, or spend corrected).
        # Within BUDGET_RESOLVE_POINTS of it, the alert holds; further under, it is quiet and
        # resolves after the quiet period, and no lower threshold opens meanwhile.
        if percent >= (current.level or 0) - BUDGET_RESOLVE_POINTS:
            kept, _ = open_or_keep(_budget_alert(tenant, use, current.level or 0, thresholds), now=now, notify=notify)
            _hard_stop_if_due(tenant, use, kept, now, report)
            return
        if not quiet(current, now=now, notify=notify):
            return
        report.resolved += 1
        current = None
    if level is None:
        return
    if current is not None and (current.level or 0) < level:
        _resolve(current, f"superseded by the {level} % alert", now, report, notify)
        current = None
    if current is None:
        subject = f"tenant:{tenant.pk}"
        raised_before = Alert.objects.filter(rule=use.rule, subject=subject, period=use.period, level__gte=level)
        if raised_before.exists():
            # Each threshold once per period: resolved by hand, or covered by a higher one.
            alert = None
        else:
            alert, transition = open_or_keep(_budget_alert(tenant, use, level, thresholds), now=now, notify=notify)
            report.count(transition)
    else:
        alert, _ = open_or_keep(_budget_alert(tenant, use, level, thresholds), now=now, notify=notify)
    _hard_stop_if_due(tenant, use, alert, now, report)


def _hard_stop_if_due(tenant: Tenant, use: BudgetUse, alert: Alert | None, now: dt.datetime, report: Report) -> None:
    if (use.percent or 0) >= 100 and tenant.hard_stop:
        target = alert or (
            Alert.objects.filter(rule=use.rule, subject=f"tenant:{tenant.pk}", period=use.period)
            .order_by("-level", "-opened_at", "-id")
            .first()
        )
        if target is not None:
            _engage_hard_stop(target, tenant, use, now, report)


def _audit_hard_stop(action: str, alert: Alert, tenant: Tenant, **detail: object) -> None:
    record_event(
        action,
        actor_label="system",
        target=alert,
        target_label=f"alert #{alert.pk}: {alert.title}"[:200],
        tenant=tenant,
        detail={"rule": alert.rule, "period": alert.period, **detail},
    )


@transaction.atomic
def _engage_hard_stop(alert: Alert, tenant: Tenant, use: BudgetUse, now: dt.datetime, report: Report) -> None:
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.hard_stop_at is not None:
        return  # engaged once per alert: a person who resumes the tenant is not overruled
    tenant = Tenant.objects.get(pk=tenant.pk)
    alert.hard_stop_at = now
    if tenant.is_paused:
        alert.save(update_fields=["hard_stop_at"])
        _audit_hard_stop("alert.hard_stop", alert, tenant, outcome="already paused", paused_reason=tenant.paused_reason)
        return
    reason = (
        f"Budget hard stop: {tenant.slug} used {use.percent or 0:.0f} % of its {use.word} budget "
        f"({_money(use.spent)} of {_money(use.budget or Decimal(0))}) for {use.period}. "
        f"opsdash resumes it when the {use.unit} is over."
    )
    try:
        requested = actions.request_system_run(
            tenant,
            "pause_tenant",
            reason=reason,
            parameters={"reason": reason},
            idempotency_key=f"alert-{alert.pk}-hard-stop",
        )
    except actions.ActionError as exc:
        alert.save(update_fields=["hard_stop_at"])
        _audit_hard_stop("alert.hard_stop", alert, tenant, outcome="not paused", error=str(exc))
        return
    alert.hard_stop_run = requested.run
    alert.save(update_fields=["hard_stop_at", "hard_stop_run"])
    report.paused += 1


def _release_hard_stops(tenant: Tenant, uses: dict[str, BudgetUse], now: dt.datetime, report: Report) -> None:
    """Lift the hard stops of periods that are over (see the module docstring)."""
    ended = [
        alert
        for alert in Alert.objects.filter(
            tenant=tenant, rule__in=BUDGET_RULES, hard_stop_at__isnull=False, hard_stop_ended_at__isnull=True
        ).order_by("opened_at")
        if alert.period != uses[alert.rule].period
    ]
    for alert in ended:
        _release(alert, tenant, uses, now, report)


@transaction.atomic
def _release(alert: Alert, tenant: Tenant, uses: dict[str, BudgetUse], now: dt.datetime, report: Report) -> None:
    alert = Alert.objects.select_for_update(of=("self",)).select_related("hard_stop_run").get(pk=alert.pk)
    if alert.hard_stop_ended_at is not None:
        return
    alert.hard_stop_ended_at = now
    alert.save(update_fields=["hard_stop_ended_at"])
    run = alert.hard_stop_run
    if run is None:
        return  # the tenant was already paused when the stop engaged: not ours to resume
    unit = "day" if alert.rule == DAILY else "month"
    if run.is_live:
        actions.cancel_system_run(run, reason=f"the {unit} {alert.period} is over before the hard stop ran")
        return
    if run.state != ActionRun.State.SUCCEEDED:
        return
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    touched_since = ActionRun.objects.filter(
        tenant=tenant, kind__in=["pause_tenant", "resume_tenant"], created_at__gt=run.created_at
    ).exists()
    paused_by_run = (
        tenant.is_paused
        and tenant.paused_at is not None
        and (run.result or {}).get("paused_at") == tenant.paused_at.isoformat()
    )
    if touched_since or not paused_by_run:
        _audit_hard_stop(
            "alert.hard_stop_kept",
            alert,
            tenant,
            run=run.pk,
            outcome="not resumed: the tenant was resumed or paused by hand since the hard stop",
        )
        return
    other = next(
        (use for rule, use in uses.items() if rule != alert.rule and tenant.hard_stop and (use.percent or 0) >= 100),
        None,
    )
    if other is not None:
        successor = (
            Alert.objects.select_for_update()
            .filter(rule=other.rule, tenant=tenant, period=other.period)
            .order_by("-level", "-opened_at", "-id")
            .first()
        )
        if successor is not None:
            successor.hard_stop_run = run
            successor.hard_stop_at = successor.hard_stop_at or now
            successor.save(update_fields=["hard_stop_run", "hard_stop_at"])
            _audit_hard_stop(
                "alert.hard_stop_kept",
                alert,
                tenant,
                run=run.pk,
                outcome=f"kept paused: the {other.word} budget is used up too (alert #{successor.pk})",
            )
            return
    reason = f"The {unit} {alert.period} is over: lifting the budget hard stop of run #{run.pk}."
    try:
        actions.request_system_run(
            tenant,
            "resume_tenant",
            reason=reason,
            parameters={"reason": reason},
            idempotency_key=f"alert-{alert.pk}-hard-stop-end",
        )
    except actions.ActionError as exc:
        _audit_hard_stop("alert.hard_stop_kept", alert, tenant, run=run.pk, outcome="not resumed", error=str(exc))
        return
    report.resumed += 1


# --- SLOs -----------------------------------------------------------------------------------


def _scope(slo: Slo) -> str:
    return f"{slo.route} ({slo.tenant.slug})" if slo.tenant_id and slo.tenant else slo.route


def _latency_path(slo: Slo, now: dt.datetime, hours_before: int) -> str:
    """The latency page filtered to the SLO's route, framing the hours before the alert
    opened: the link keeps showing the cause once the alert is old."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    params = {
        "route": slo.route,
        "range": "custom",
        "from": f"{hour - dt.timedelta(hours=hours_before):%Y-%m-%dT%H:%M}",
        "to": f"{hour + dt.timedelta(hours=1):%Y-%m-%dT%H:%M}",
    }
    if slo.tenant_id and slo.tenant:
        params["tenant"] = slo.tenant.slug
    return "/latency/?" + urlencode(params, safe="/:")


def _window_words(window: dt.timedelta) -> str:
    minutes = int(window.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


def _burn(counts: selectors.Counts, indicator: str, slo: Slo) -> float | None:
    if indicator == "errors":
        rate = counts.error_rate()
        return None if rate is None else rate / slo.error_budget
    rate = counts.slow_rate()
    return None if rate is None else rate / slo.latency_budget


def _burn_alert(slo: Slo, rule: str, indicator: str, long_: dt.timedelta, short: dt.timedelta, factor: float,
                severity: str, counts: dict[dt.timedelta, selectors.Counts], now: dt.datetime) -> Raised:  # fmt: skip
    burn_long = _burn(counts[long_], indicator, slo) or 0.0
    burn_short = _burn(counts[short], indicator, slo) or 0.0
    kind = "fast" if rule == BURN_FAST else "slow"
    if indicator == "errors":
        what = "error budget"
        rates = (counts[long_].error_rate() or 0.0, counts[short].error_rate() or 0.0)
        measured = "failed (errors and timeouts)"
        objective = f"at most {slo.error_rate_text} % failed"
    else:
        what = "latency budget"
        rates = (counts[long_].slow_rate() or 0.0, counts[short].slow_rate() or 0.0)
        measured = f"slower than {slo.latency_target_ms:,} ms"
        objective = f"{slo.percentile_text} % faster than {slo.latency_target_ms:,} ms"
    hours_left = slo.window_days * 24 / burn_long if burn_long else None
    detail = (
        f"{rates[0]:.1%} of requests {measured} over the last {_window_words(long_)} and {rates[1]:.1%} over the "
        f"last {_window_words(short)}: {burn_long:.1f}× and {burn_short:.1f}× the pace that spends the "
        f"{slo.window_days}-day {what} ({objective}) exactly. "
        + (f"At this pace the whole budget is gone in {hours_left:.0f} h. " if hours_left else "")
        + f"Fires while both windows burn at least {factor:g}×."
    )
    return Raised(
        rule=rule,
        subject=f"{slo.subject}:{indicator}",
        severity=severity,
        title=f"{_scope(slo)}: {what} burning {burn_long:.0f}× ({kind} burn)",
        detail=detail,
        path=_latency_path(slo, now, 6 if rule == BURN_FAST else 24),
        tenant=slo.tenant,
        slo=slo,
    )


def _sustained_alert(slo: Slo, values: list[float], hour_starts: list[dt.datetime], now: dt.datetime) -> Raised:
    shown = ", ".join(f"{t:%H:%M} {v:,.0f} ms" for t, v in zip(hour_starts, values, strict=True))
    return Raised(
        rule=LATENCY_SUSTAINED,
        subject=slo.subject,
        severity=Alert.Severity.WARNING,
        title=f"{_scope(slo)}: {slo.percentile_label} above {slo.latency_target_ms:,} ms for {SUSTAINED_HOURS} hours",
        detail=(
            f"{slo.percentile_label} latency per hour (UTC): {shown}; the target is {slo.latency_target_ms:,} ms. "
            f"Resolves when one of the last {SUSTAINED_HOURS} whole hours is back under."
        ),
        path=_latency_path(slo, now, 6),
        tenant=slo.tenant,
        slo=slo,
    )


def evaluate_slos(now: dt.datetime, report: Report, notify: bool = True) -> None:
    unresolved = {
        (a.rule, a.subject): a for a in Alert.objects.filter(rule__in=SLO_RULES).exclude(state=Alert.State.RESOLVED)
    }
    firing: dict[tuple[str, str], Raised] = {}
    holding: dict[tuple[str, str], Raised | None] = {}
    windows = sorted({w for _, long_, short, _, _ in BURNS for w in (long_, short)})
    for slo in Slo.objects.filter(enabled=True).select_related("tenant").order_by("pk"):
        counts = selectors.window_counts(slo, now, windows)
        for rule, long_, short, factor, severity in BURNS:
            if counts[long_].requests < MIN_REQUESTS:
                continue  # too little evidence: quiet
            for indicator in ("errors", "latency"):
                burn_long, burn_short = _burn(counts[long_], indicator, slo), _burn(counts[short], indicator, slo)
                if burn_long is None or burn_long < factor * BURN_RESOLVE_SHARE:
                    continue  # quiet
                raised = _burn_alert(slo, rule, indicator, long_, short, factor, severity, counts, now)
                bad = counts[short].failed if indicator == "errors" else counts[short].slow
                if burn_long >= factor and (burn_short or 0.0) >= factor and bad >= MIN_BAD_TO_OPEN:
                    firing[(raised.rule, raised.subject)] = raised
                else:
                    holding[(raised.rule, raised.subject)] = raised
        values = selectors.hourly_quantiles(slo, now, SUSTAINED_HOURS)
        if all(v is not None and v > slo.latency_target_ms for v in values):
            end = now.replace(minute=0, second=0, microsecond=0)
            starts = [end - dt.timedelta(hours=SUSTAINED_HOURS - k) for k in range(SUSTAINED_HOURS)]
            raised = _sustained_alert(slo, [float(v or 0) for v in values], starts, now)
            firing[(raised.rule, raised.subject)] = raised
        elif values and values[-1] is not None and values[-1] > slo.latency_target_ms * SUSTAINED_RESOLVE_SHARE:
            holding[(LATENCY_SUSTAINED, slo.subject)] = None
    settle(unresolved, firing, holding, now, report, notify)


def replay(
    start: dt.datetime,
    end: dt.datetime,
    step: dt.timedelta = dt.timedelta(minutes=5),
    *,
    parts: Iterable[str] = ("slos",),
) -> Report:
    """Evaluate the rules of ``parts`` ("slos", "errors", "safety") at every ``step`` from
    ``start`` to ``end``, as the beat would have: alerts open and resolve at the times they
    would have. No notices are sent for this history. Used by seed_demo for traffic loaded
    after the fact."""
    steps = {"slos": evaluate_slos, "errors": bursts.evaluate_error_bursts, "safety": bursts.evaluate_flag_spikes}
    rules = [steps[name] for name in parts]
    report = Report()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_EVAL_LOCK])
        t = start
        while t <= end:
            for rule in rules:
                rule(t, report, False)
            t += step
    return report


def replay_slos(start: dt.datetime, end: dt.datetime, step: dt.timedelta = dt.timedelta(minutes=5)) -> Report:
    return replay(start, end, step, parts=("slos",))


# --- Evals ----------------------------------------------------------------------------------


def evaluate_evals(now: dt.datetime, report: Report, notify: bool = True) -> None:
    threshold = settings.OPSDASH_EVAL_ALERT_MIN_PASS_RATE / 100
    resolve_at = threshold + EVAL_RESOLVE_POINTS / 100
    unresolved = {a.subject: a for a in Alert.objects.filter(rule=EVAL_FAILING).exclude(state=Alert.State.RESOLVED)}
    firing: dict[str, Raised] = {}
    holding: dict[str, Raised | None] = {}
    for prompt_id, runs in selectors.latest_eval_runs(now - EVAL_LOOKBACK, now).items():
        version = runs[0].prompt_version
        subject = f"prompt:{prompt_id}@{version}"
        failing = sorted((r for r in runs if r.pass_rate < threshold), key=lambda r: (r.pass_rate, r.suite, r.run_id))
        if not failing:
            if any(r.pass_rate < resolve_at for r in runs):
                holding[subject] = None
            continue
        worst = failing[0]
        lines = "; ".join(
            f"{r.suite}: {r.passed} of {r.results} results passed ({r.pass_rate:.0%}) in run {r.run_id}"
            for r in failing
        )
        firing[subject] = Raised(
            rule=EVAL_FAILING,
            subject=subject,
            severity=Alert.Severity.WARNING,
            title=f"{prompt_id} {version}: latest {worst.suite} eval run passes {worst.pass_rate:.0%}",
            detail=(
                f"The newest version of prompt {prompt_id} ({version}) fails its latest eval runs: {lines}. "
                f"An alert is raised below {settings.OPSDASH_EVAL_ALERT_MIN_PASS_RATE} % passed; "
                f"it resolves once every latest run passes at least "
                f"{settings.OPSDASH_EVAL_ALERT_MIN_PASS_RATE + EVAL_RESOLVE_POINTS} % (or a newer version does)."
            ),
            path="/evals/?" + urlencode({"prompt": f"{prompt_id}@{version}", "range": "7d"}, safe="@"),
        )
    settle(unresolved, firing, holding, now, report, notify)
