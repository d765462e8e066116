"""The "Needs attention" list, the first thing on the overview: the open alerts, then what went
wrong over the lookback (OPSDASH_ATTENTION_LOOKBACK_DAYS, 7 by default) whatever range the
charts show, each line naming its subject, how bad and when, and linking to the page that
shows it with the window and the subject chosen.

What counts as anomalous is decided where the data lives:

- slow or failing hours of a route or model: opsdash/telemetry/anomalies.py;
- spend past a daily or monthly budget: opsdash/telemetry/anomalies.py (overspends);
- safety-flag spikes per tenant and kind: opsdash/safety/selectors.py (flag_spikes);
- prompt versions failing their evals: opsdash/evals/selectors.py (failing_versions).

An anomaly that an open alert already reports is shown once, as the alert. Alerts come
first (the most severe, open before acknowledged, the newest: see
alerts.selectors.open_alerts); the anomalies after them, the largest first, then by
subject. An anomaly's size is how many times over its bar it is:
its factor over the subject's own baseline, the share of its budget spent, its eval
failure rate over the failing rate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, transaction
from django.utils import timezone

from opsdash.accounts import access
from opsdash.alerts import selectors as alert_reads
from opsdash.evals import selectors as eval_reads
from opsdash.safety import selectors as safety_reads
from opsdash.telemetry import anomalies

log = logging.getLogger(__name__)

HOUR = dt.timedelta(hours=1)
# Hours shown either side of an incident on the page a line links to.
MARGIN = dt.timedelta(hours=3)
MAX_ALERTS = 10
# How long the anomalies of a scope are reused (within the same minute only).
ANOMALIES_CACHE_SECONDS = 60
LABELS = {
    "alert": "alert",
    "latency": "slow",
    "errors": "errors",
    "budget": "budget",
    "flags": "safety",
    "eval": "evals",
}
# Alert identities an anomaly is reported by: (rule, subject, budget period).
Key = tuple[str, ...]


@dataclass(frozen=True)
class Line:
    kind: str  # alert, latency, errors, budget, flags, eval
    subject: str  # what it is about, as the pages name it
    size: str  # how bad, in words ("p95 5.3× baseline")
    when: str
    href: str
    rank: float = 0.0  # ordering: larger first (alerts: severity first)
    severity: str = "warning"
    keys: frozenset[Key] = field(default_factory=frozenset)

    @property
    def is_alert(self) -> bool:
        return self.kind == "alert"

    @property
    def label(self) -> str:
        return LABELS.get(self.kind, self.kind)


@dataclass(frozen=True)
class Attention:
    lines: list[Line]
    since: dt.datetime
    days: int
    # Days of route and model hours read for this scope: fewer than ``days`` for a user of
    # some tenants, whose per-tenant hours are kept only as long as the minute rollups.
    route_days: int = 0
    # The anomalies could not be read (the alerts above still are): said, not a 500.
    unavailable: bool = False

    @property
    def alerts(self) -> list[Line]:
        return [line for line in self.lines if line.is_alert]

    @property
    def anomalies(self) -> list[Line]:
        return [line for line in self.lines if not line.is_alert]


def lookback_days() -> int:
    return int(settings.OPSDASH_ATTENTION_LOOKBACK_DAYS)


def needs_attention(user: Any, now: dt.datetime | None = None) -> Attention:
    """What needs the user's attention among the tenants they may see."""
    now = now or timezone.now()
    days = lookback_days()
    since = (now - dt.timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    scope = access.scope_tenant_ids(user)
    alert_lines = [_alert_line(a) for a in alert_reads.open_alerts(user, limit=MAX_ALERTS)]
    reported: set[Key] = set().union(*(line.keys for line in alert_lines)) if alert_lines else set()
    route_days = days if scope is None else min(days, int(settings.OPSDASH_MINUTE_ROLLUP_DAYS))
    try:
        with transaction.atomic():  # a savepoint: the rest of the page still reads after a failure
            found = _anomaly_lines(scope, since, now)
    except DatabaseError:
        log.exception("needs attention: the anomalies of the last %d days could not be read", days)
        return Attention(alert_lines, since, days, route_days, unavailable=True)
    lines = ordered(alert_lines, [line for line in found if not line.keys & reported])
    return Attention(lines, since, days, route_days)


def _anomaly_lines(scope: frozenset[int] | None, since: dt.datetime, now: dt.datetime) -> list[Line]:
    """The anomalies of the lookback for this scope, computed at most once a minute.

    They read a week of hourly histograms per route and model (some 100 ms at ten million
    events), the same for everyone of a scope, and they change by the hour: during an
    incident many people reload the overview. Open alerts are read fresh on every request."""
    scope_key = ",".join(map(str, sorted(scope))) if scope is not None else "all"
    digest = hashlib.sha256(f"{scope_key}|{since.isoformat()}|{now:%Y-%m-%dT%H:%M}".encode()).hexdigest()
    key = f"opsdash:attention:{digest}"
    found = cache.get(key)
    if found is None:
        found = [
            *_telemetry_lines(scope, since, now),
            *_budget_lines(scope, since, now),
            *_flag_lines(scope, since, now),
            *_eval_lines(since, now),
        ]
        cache.set(key, found, ANOMALIES_CACHE_SECONDS)
    return found


def ordered(alerts: list[Line], found: list[Line]) -> list[Line]:
    """Alerts first, in the order open_alerts gives them (the most severe, open before
    acknowledged, the newest); then anomalies, largest first, then by subject."""
    return [*alerts, *sorted(found, key=lambda line: (-line.rank, line.subject, line.size))]


# --- Alerts ------------------------------------------------------------------------------------


def alert_keys(alert: Any) -> frozenset[Key]:
    """The anomalies an open alert stands for (see each line's keys): its own rule and
    subject (a budget alert: of its period), and the subject it names (a route, a model, a
    tenant's flags of one kind, a prompt version), whatever rule raised it."""
    keys: set[Key] = {(alert.rule, alert.subject, alert.period or "")}
    kind, key = getattr(alert, "subject_kind", ""), getattr(alert, "subject_key", "")
    if kind in ("route", "model", "flags", "prompt") and key:
        keys.add(("subject", kind, key))
    return frozenset(keys)


def _alert_line(alert: Any) -> Line:
    state = "acknowledged" if alert.state == "acknowledged" else "open"
    return Line(
        kind="alert",
        subject=alert.title,
        size=f"{alert.severity} alert, {state}",
        when=f"since {when_at(alert.opened_at)}",
        href=alert.path or f"/alerts/{alert.pk}/",
        severity=alert.severity,
        keys=alert_keys(alert),
    )


# --- Telemetry ---------------------------------------------------------------------------------


def _times(value: float) -> str:
    return f"{value:.1f}×" if value < 10 else f"{value:,.0f}×"


def millis(value: float) -> str:
    """As every page writes latency (the ms filter): '840 ms', '5,312 ms'."""
    return f"{value:,.0f} ms"


def _telemetry_lines(scope: frozenset[int] | None, since: dt.datetime, now: dt.datetime) -> list[Line]:
    findings = anomalies.hourly_findings(scope, since, now)
    # A subject slow and failing in the same hours is one line (a burst's timeouts are slow too).
    merged: dict[tuple[str, str, dt.datetime], list[anomalies.Finding]] = {}
    for finding in sorted(findings, key=lambda x: (x.by, x.key, x.start, x.kind)):
        for (by, key, _start), group in merged.items():
            if by == finding.by and key == finding.key and _overlap(group, finding):
                group.append(finding)
                break
        else:
            merged[(finding.by, finding.key, finding.start)] = [finding]
    lines = []
    for (by, key, _), group in merged.items():
        start, end = min(x.start for x in group), max(x.end for x in group)
        words, keys = [], set()
        for x in sorted(group, key=lambda x: x.kind):
            if x.kind == "errors":
                words.append(f"errors {percent(x.value)} ({_times(x.factor)} the usual {percent(x.baseline, 1)})")
            else:
                words.append(f"p95 {_times(x.factor)} baseline ({millis(x.value)}, usually {millis(x.baseline)})")
            keys.add(("subject", by, key))
        query = {"by": by, by: key, **window_query(start, end, now)}
        lines.append(
            Line(
                kind="errors" if any(x.kind == "errors" for x in group) else "latency",
                subject=f"{by} {key}",
                size=" · ".join(words),
                when=when_between(start, end),
                href=f"/latency/?{urlencode(query, safe='/:@')}",
                rank=max(x.factor for x in group),
                keys=frozenset(keys),
            )
        )
    return lines


def _overlap(group: list[anomalies.Finding], finding: anomalies.Finding) -> bool:
    return any(x.start <= finding.end and finding.start <= x.end for x in group)


def _budget_lines(scope: frozenset[int] | None, since: dt.datetime, now: dt.datetime) -> list[Line]:
    lines = []
    for o in anomalies.overspends(scope, since, now):
        daily = o.period == "day"
        end = o.start + dt.timedelta(days=1) if daily else (o.start + dt.timedelta(days=32)).replace(day=1)
        query = {"tenant": o.slug, **window_query(o.start, min(end, now), now, margin=dt.timedelta(0))}
        lines.append(_budget_line(o, query, daily))
    return lines


def _budget_line(o: anomalies.Overspend, query: dict[str, str], daily: bool) -> Line:
    return Line(
        kind="budget",
        subject=f"tenant {o.slug}",
        size=f"{percent(o.used)} of {'daily' if daily else 'monthly'} budget (${o.spent:,.2f} of ${o.budget:,.2f})",
        when=f"on {o.start:%b} {o.start.day} (UTC)" if daily else f"in {o.start:%B %Y}",
        href=f"/cost/?{urlencode(query, safe='/:@')}",
        rank=o.used,
        severity="critical",
        keys=frozenset({("budget.daily" if daily else "budget.monthly", f"tenant:{o.tenant_id}", o.label)}),
    )


def percent(share: float, digits: int = 0) -> str:
    """0.052 → '5 %' (as the pages' pct filter writes it)."""
    return f"{share * 100:,.{digits}f} %"


def _flag_lines(scope: frozenset[int] | None, since: dt.datetime, now: dt.datetime) -> list[Line]:
    lines = []
    for s in safety_reads.flag_spikes(scope, since, now):
        query = {"tenant": s.slug, "kind": s.kind, **window_query(s.start, s.end, now)}
        usual = f"usually {s.usual:.1f} an hour" if s.usual >= 0.1 else "usually none"
        lines.append(
            Line(
                kind="flags",
                subject=f"tenant {s.slug} · {s.kind}",
                size=f"{s.flags:,} {s.kind} flags, {s.peak:,} in the worst hour ({_times(s.factor)}; {usual})",
                when=when_between(s.start, s.end),
                href=f"/safety/?{urlencode(query, safe='/:@')}",
                rank=s.factor,
                keys=frozenset({("subject", "flags", f"{s.slug}:{s.kind}")}),
            )
        )
    return lines


def _eval_lines(since: dt.datetime, now: dt.datetime) -> list[Line]:
    lines = []
    for v in eval_reads.failing_versions(since, now):
        before = (
            f"; {v.previous_version}: {percent(v.previous_failure_rate)}"
            if v.previous_version and v.previous_failure_rate is not None
            else ""
        )
        query = {"prompt": v.prompt, **window_query(v.first_seen, v.last_seen + HOUR, now)}
        lines.append(
            Line(
                kind="eval",
                subject=f"prompt {v.prompt_id} {v.prompt_version}",
                size=f"fails {percent(v.failure_rate)} of {v.results:,} eval results{before}",
                when=f"since {when_at(v.first_seen)}",
                href=f"/evals/?{urlencode(query, safe='/:@')}",
                rank=v.failure_rate / eval_reads.FAILING_RATE,
                keys=frozenset({("eval.failing", f"prompt:{v.prompt}", ""), ("subject", "prompt", v.prompt)}),
            )
        )
    return lines


# --- Windows and words -------------------------------------------------------------------------


def _floor_hour(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def _ceil_hour(value: dt.datetime) -> dt.datetime:
    floor = _floor_hour(value)
    return floor if floor == value else floor + HOUR


def window_query(
    start: dt.datetime, end: dt.datetime, now: dt.datetime, margin: dt.timedelta = MARGIN
) -> dict[str, str]:
    """A custom range around [start, end): whole hours, ``margin`` either side, never past
    the present hour. Minute rollups are kept only for the last few days; a window older
    than that is shown over more than 24 hours, which the pages read per hour."""
    lo, hi = _floor_hour(start - margin), min(_ceil_hour(end + margin), _ceil_hour(now))
    oldest_minutes = now - dt.timedelta(days=int(settings.OPSDASH_MINUTE_ROLLUP_DAYS))
    if lo < oldest_minutes and hi - lo <= dt.timedelta(hours=24):
        pad = (dt.timedelta(hours=25) - (hi - lo)) / 2
        lo, hi = _floor_hour(lo - pad), min(_ceil_hour(hi + pad), _ceil_hour(now))
        if hi - lo <= dt.timedelta(hours=24):
            lo = hi - dt.timedelta(hours=25)
    if hi <= lo:
        hi = lo + HOUR
    return {"range": "custom", "from": f"{lo:%Y-%m-%dT%H:%M}", "to": f"{hi:%Y-%m-%dT%H:%M}"}


def when_at(value: dt.datetime) -> str:
    value = value.astimezone(dt.UTC)
    return f"{value:%b} {value.day}, {value:%H:%M} UTC"


def when_between(start: dt.datetime, end: dt.datetime) -> str:
    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    if (end - HOUR).date() == start.date():
        return f"{start:%b} {start.day}, {start:%H:%M}–{end:%H:%M} UTC"
    return f"{start:%b} {start.day}, {start:%H:%M} – {end:%b} {end.day}, {end:%H:%M} UTC"
