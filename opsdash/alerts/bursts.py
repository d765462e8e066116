"""Two rules that compare a subject with its own recent past, from the rollups.

- ``errors.burst``, per route and per model over every tenant: the share of requests that
  failed (errors and timeouts) in the last hour (minute rollups) against the same
  subject's share over the 7 days before (its baseline, hour rollups). Opens at
  ``BURST_FACTOR`` × the baseline and at least ``BURST_MIN_RATE``, with at least
  ``BURST_MIN_REQUESTS`` requests in the hour, so a handful of calls never pages anyone.
  Holds (stays open) down to half of both thresholds; quiet under that, or with fewer than
  half the minimum requests.
- ``safety.spike``, per tenant and flag kind: the flags of the worst of the last whole
  hour and the current one (hourly flag rollups, through the safety selectors) against
  the tenant's mean flags of that kind per hour over the 7 days before. Opens at
  ``SPIKE_FACTOR`` × that mean and at least ``SPIKE_MIN_FLAGS`` flags; holds down to half
  of both.

Quiet alerts resolve after OPSDASH_ALERT_QUIET_MINUTES (hysteresis.py). Each alert's title
names its subject and the worst value seen while it was open, against the baseline.
Error bursts are about every tenant's traffic, so only users who see every tenant see
them; a spike belongs to its tenant (access.alert_in_scope).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from opsdash.alerts import selectors
from opsdash.alerts.hysteresis import Report, settle
from opsdash.alerts.models import Alert
from opsdash.alerts.services import Raised, fit_subject, quiet_period
from opsdash.safety import selectors as safety
from opsdash.tenants.models import Tenant

ERROR_BURST, FLAG_SPIKE = "errors.burst", "safety.spike"
HOUR = dt.timedelta(hours=1)
BASELINE = dt.timedelta(days=7)
# Share of the open thresholds an open alert holds at (below it, it is quiet).
HOLD_SHARE = 0.5

BURST_WINDOW = HOUR
BURST_MIN_REQUESTS = 50
BURST_MIN_RATE = 0.20
BURST_FACTOR = 5.0
BURST_CRITICAL_RATE = 0.50

SPIKE_MIN_FLAGS = 20
SPIKE_FACTOR = 5.0
# Hours a link frames before the trouble started and after the alert opened.
LINK_BEFORE, LINK_AFTER = dt.timedelta(hours=2), dt.timedelta(hours=2)


def _hour(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def _window_params(start: dt.datetime, now: dt.datetime) -> dict[str, str]:
    """A custom range of whole hours from before ``start`` to after ``now``: the link
    keeps showing the trouble after the alert opened."""
    return {
        "range": "custom",
        "from": f"{_hour(start) - LINK_BEFORE:%Y-%m-%dT%H:%M}",
        "to": f"{_hour(now) + LINK_AFTER:%Y-%m-%dT%H:%M}",
    }


def _unresolved(rule: str) -> dict[str, Alert]:
    return {a.subject: a for a in Alert.objects.filter(rule=rule).exclude(state=Alert.State.RESOLVED)}


def _quiet_words() -> str:
    minutes = int(quiet_period().total_seconds() // 60)
    return f"stayed under that for {minutes} minutes" if minutes else "is under that"


# --- Error-rate bursts ------------------------------------------------------------------------


def burst_thresholds(baseline: float | None) -> tuple[float, float]:
    """(rate to open at, rate to hold at) for a subject with this baseline error rate."""
    opens = max(BURST_MIN_RATE, BURST_FACTOR * (baseline or 0.0))
    return opens, opens * HOLD_SHARE


def _baseline_rate(subject: selectors.SubjectErrors) -> float | None:
    # Fewer requests than an hour needs to fire are no baseline to compare with.
    if subject.baseline.requests < BURST_MIN_REQUESTS:
        return None
    return subject.baseline.error_rate()


def _burst_alert(s: selectors.SubjectErrors, rate: float, peak: float, now: dt.datetime) -> Raised:
    baseline = _baseline_rate(s)
    opens, holds = burst_thresholds(baseline)
    usual = (
        f"baseline {baseline:.1%}"
        if baseline is not None
        else f"no baseline: under {BURST_MIN_REQUESTS} requests in the 7 days before"
    )
    usual_text = (
        f"{s.baseline.failed:,} of {s.baseline.requests:,} ({baseline:.1%}) failed in the 7 days before"
        if baseline is not None
        else f"it had {s.baseline.requests:,} requests in the 7 days before, too few for a baseline"
    )
    query = {"by": s.by, s.by: s.key, **_window_params(now - BURST_WINDOW, now)}
    return Raised(
        rule=ERROR_BURST,
        subject=fit_subject(f"{s.by}:{s.key}"),
        severity=Alert.Severity.CRITICAL if peak >= BURST_CRITICAL_RATE else Alert.Severity.WARNING,
        title=f"Error rate {peak:.0%} on {s.by} {s.key} ({usual})",
        detail=(
            f"{s.window.failed:,} of {s.window.requests:,} requests to {s.by} {s.key} failed (errors and timeouts) "
            f"in the last hour: {rate:.1%}, at worst {peak:.1%} since the alert opened; {usual_text}. "
            f"Opens at {opens:.0%} with at least {BURST_MIN_REQUESTS} requests in the hour "
            f"({BURST_FACTOR:g}× the baseline, at least {BURST_MIN_RATE:.0%}); resolves once the rate "
            f"{_quiet_words()} {holds:.0%}."
        ),
        path="/latency/?" + urlencode(query, safe="/:@"),
        peak=peak,
    )


def evaluate_error_bursts(now: dt.datetime, report: Report, notify: bool = True) -> None:
    unresolved = _unresolved(ERROR_BURST)
    firing: dict[str, Raised] = {}
    holding: dict[str, Raised | None] = {}
    for s in selectors.error_counts(now, BURST_WINDOW, BASELINE):
        rate = s.window.error_rate() or 0.0
        opens, holds = burst_thresholds(_baseline_rate(s))
        subject = fit_subject(f"{s.by}:{s.key}")
        current = unresolved.get(subject)
        peak = max(rate, current.peak or 0.0) if current is not None else rate
        if s.window.requests >= BURST_MIN_REQUESTS and rate >= opens:
            firing[subject] = _burst_alert(s, rate, peak, now)
        elif current is not None and s.window.requests >= BURST_MIN_REQUESTS // 2 and rate >= holds:
            holding[subject] = _burst_alert(s, rate, peak, now)
    settle(unresolved, firing, holding, now, report, notify)


# --- Safety-flag spikes -----------------------------------------------------------------------


def spike_thresholds(per_hour: float) -> tuple[float, float]:
    """(flags in an hour to open at, to hold at) for a baseline of ``per_hour`` flags."""
    opens = max(float(SPIKE_MIN_FLAGS), SPIKE_FACTOR * per_hour)
    return opens, opens * HOLD_SHARE


def _times(count: float, per_hour: float) -> str:
    if per_hour <= 0:
        return "none in the 7 days before"
    return f"{count / per_hour:,.0f}× baseline"


def _spike_alert(tenant: Tenant, flags: safety.RecentFlags, count: int, peak: int, now: dt.datetime) -> Raised:
    per_hour = flags.before / (BASELINE / HOUR)
    opens, holds = spike_thresholds(per_hour)
    query = {"tenant": tenant.slug, "kind": flags.kind, **_window_params(now - HOUR, now)}
    return Raised(
        rule=FLAG_SPIKE,
        subject=fit_subject(f"tenant:{tenant.pk}:{flags.kind}"),
        severity=Alert.Severity.WARNING,
        title=f"Safety flags: {peak:,} {flags.kind} on {tenant.slug} in 1 h ({_times(peak, per_hour)})",
        detail=(
            f"{tenant.name} ({tenant.slug}) got {count:,} {flags.kind} flags in its worst hour of the last two "
            f"(UTC hours), at worst {peak:,} since the alert opened; in the 7 days before, {flags.before:,} "
            f"({per_hour:.2f} an hour). Opens at {opens:,.0f} flags in an hour ({SPIKE_FACTOR:g}× the tenant's "
            f"hourly mean, at least {SPIKE_MIN_FLAGS}); resolves once the count {_quiet_words()} {holds:,.0f}."
        ),
        path="/safety/?" + urlencode(query, safe="/:@"),
        tenant=tenant,
        peak=float(peak),
    )


def evaluate_flag_spikes(now: dt.datetime, report: Report, notify: bool = True) -> None:
    unresolved = _unresolved(FLAG_SPIKE)
    firing: dict[str, Raised] = {}
    holding: dict[str, Raised | None] = {}
    # The last whole hour and the current one: a spike stays in view for an hour after its hour.
    start = _hour(now) - HOUR
    recent = safety.recent_flags_by_kind(start - BASELINE, start, now)
    tenants = Tenant.objects.in_bulk({r.tenant_id for r in recent})
    for flags in recent:
        tenant = tenants.get(flags.tenant_id)
        if tenant is None:
            continue
        count = max(flags.hours)
        opens, holds = spike_thresholds(flags.before / (BASELINE / HOUR))
        subject = fit_subject(f"tenant:{tenant.pk}:{flags.kind}")
        current = unresolved.get(subject)
        peak = max(count, int(current.peak or 0)) if current is not None else count
        if count >= opens:
            firing[subject] = _spike_alert(tenant, flags, count, peak, now)
        elif current is not None and count >= holds:
            holding[subject] = _spike_alert(tenant, flags, count, peak, now)
    settle(unresolved, firing, holding, now, report, notify)
