"""After the demo is loaded: an SLO on the incident's route, and the alerts its stories raise.

The traffic arrives all at once, after the fact, so the rules are replayed over the hours
around each story (every 5 minutes, as beat would have run them): the SLO rules around the
latency incident, the error-burst rule around the error burst, the safety-spike rule
around the jailbreak wave. Their alerts open and resolve at the times they would have.
Then one evaluation at the current time raises what is true now: the over-budget tenant's
budget alerts and the failing prompt version's eval alert.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from django.utils import timezone

from opsdash.alerts import evaluation
from opsdash.alerts.models import Alert, Slo
from opsdash.audit.services import record_event
from opsdash.core.demo import catalog
from opsdash.core.demo.generator import DemoData
from opsdash.core.demo.tenants import _nice
from opsdash.core.demo.traffic import HOUR_MS

# The seeded objective: 99 % of the route's requests faster than this many times its usual
# p99 (timeouts included), and at most this share failing, over the demo's days.
SLO_PERCENTILE = Decimal("99")
TARGET_OVER_USUAL_P99 = 1.5
ERROR_RATE_TARGET_PCT = Decimal("5")
REPLAY_AFTER_HOURS = 7  # long enough for the 6-hour window to let the incident go
# The error burst and the jailbreak wave are read over the last hour or two: 3 hours after
# each is long enough for its alert to go quiet and resolve.
REPLAY_AFTER_BURST_HOURS = 3


@dataclass(frozen=True)
class SeededAlerts:
    slo_target_ms: int
    open: list[str]
    resolved: list[str]


def _ms_to_dt(value: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(value / 1000, dt.UTC)


def slo_target_ms(data: DemoData) -> int:
    """A latency target the route meets outside the incident, from the generated events."""
    cols = data.events.cols
    story = data.story
    on_route = cols["route"] == catalog.ROUTE_INDEX[story.incident_route]
    usual = cols["latency"][on_route & ~story.incident.contains(cols["ts"])]
    p99 = float(np.percentile(usual, float(SLO_PERCENTILE))) if len(usual) else 10_000.0
    return int(_nice(p99 * TARGET_OVER_USUAL_P99, up=True))


def seed_alerts(data: DemoData, progress: Callable[[str], None]) -> SeededAlerts:
    story = data.story
    slo = Slo.objects.create(
        route=story.incident_route,
        latency_percentile=SLO_PERCENTILE,
        latency_target_ms=slo_target_ms(data),
        error_rate_target_pct=ERROR_RATE_TARGET_PCT,
        window_days=min(30, data.sizes.days),
    )
    record_event("slo.create", actor_label="seed_demo", target=slo, after={"route": slo.route})
    now = timezone.now()
    start = _ms_to_dt(story.incident.start_ms - HOUR_MS)
    end = min(_ms_to_dt(story.incident.end_ms + REPLAY_AFTER_HOURS * HOUR_MS), now)
    replayed = evaluation.replay_slos(start, end)
    for part, window in (("errors", story.burst), ("safety", story.wave)):
        later = evaluation.replay(
            _ms_to_dt(window.start_ms - HOUR_MS),
            min(_ms_to_dt(window.end_ms + REPLAY_AFTER_BURST_HOURS * HOUR_MS), now),
            parts=(part,),
        )
        replayed.opened += later.opened
    evaluation.evaluate(now)
    progress(
        f"  alerts: SLO {slo.percentile_label} ≤ {slo.latency_target_ms:,} ms on {slo.route}; replayed the "
        f"rules around the incident, the error burst and the jailbreak wave ({replayed.opened} opened), "
        "then evaluated now"
    )
    alerts = Alert.objects.order_by("opened_at", "pk")
    return SeededAlerts(
        slo.latency_target_ms,
        [a.title for a in alerts if a.state != Alert.State.RESOLVED],
        [a.title for a in alerts if a.state == Alert.State.RESOLVED],
    )
