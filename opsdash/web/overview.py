"""Overview tiles that come from other areas: alerts, safety flags, failing prompts,
running actions. Each tile names what it counts (the first alert titles, the tenants and
kinds with the most open flags, the worst prompt versions), not only how many."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from opsdash.actions.selectors import live_run_count
from opsdash.alerts import selectors as alert_reads
from opsdash.evals.selectors import FAILING_RATE, prompt_versions
from opsdash.safety.selectors import open_flag_count, top_open_flags
from opsdash.telemetry.filters import Filters

TILE_NAMES = 2  # names a tile shows (the first alert titles, the top flags and prompts)


def extra_tiles(user: Any, f: Filters) -> dict[str, Any]:
    week = (f.range.end - dt.timedelta(days=7), f.range.end)
    failing = [v for v in prompt_versions(*week) if v.failure_rate >= FAILING_RATE]
    tiles: dict[str, Any] = {
        "open_flags": open_flag_count(user, f),
        "top_flags": top_open_flags(user, f, TILE_NAMES),
        # As evals.selectors.failing_prompt_count counts them, from the same read as the names.
        "failing_prompts": len(failing),
        "top_failing": failing[:TILE_NAMES],
        "running_actions": live_run_count(user),
    }
    tiles.update(alert_tiles(user, f))
    return tiles


def alert_tiles(user: Any, f: Filters) -> dict[str, Any]:
    """Open alerts (the first titles), and the SLO whose error budget is lowest (opsdash/alerts)."""
    statuses = alert_reads.slo_statuses(f, timezone.now(), recent=False)
    ranked = sorted((s for s in statuses if s.worst_remaining is not None), key=lambda s: s.worst_remaining or 0.0)
    counts = alert_reads.open_alert_count(user, f.tenant)
    titles = [a.title for a in alert_reads.open_alerts(user, tenant=f.tenant, limit=TILE_NAMES)]
    return {
        "alerts": counts,
        "alert_titles": titles,
        "alert_more": max(counts["open"] + counts["acknowledged"] - len(titles), 0),
        "slo_count": len(statuses),
        "worst_slo": ranked[0] if ranked else None,
    }
