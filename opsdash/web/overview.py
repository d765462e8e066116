"""Overview tiles that come from other areas: safety flags, failing prompts, running actions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from opsdash.actions.selectors import live_run_count
from opsdash.alerts.selectors import open_alert_count, slo_statuses
from opsdash.evals.selectors import failing_prompt_count
from opsdash.safety.selectors import open_flag_count
from opsdash.telemetry.filters import Filters


def extra_tiles(user: Any, f: Filters) -> dict[str, Any]:
    tiles: dict[str, Any] = {
        "open_flags": open_flag_count(user, f),
        "failing_prompts": failing_prompt_count(f.range.end - dt.timedelta(days=7), f.range.end),
        "running_actions": live_run_count(user),
    }
    tiles.update(alert_tiles(user, f))
    return tiles


def alert_tiles(user: Any, f: Filters) -> dict[str, Any]:
    """Open alerts, and the SLO whose error budget is lowest (opsdash/alerts)."""
    statuses = slo_statuses(f, timezone.now(), recent=False)
    ranked = sorted((s for s in statuses if s.worst_remaining is not None), key=lambda s: s.worst_remaining or 0.0)
    return {
        "alerts": open_alert_count(user, f.tenant),
        "slo_count": len(statuses),
        "worst_slo": ranked[0] if ranked else None,
    }
