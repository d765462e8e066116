"""Eval runs and production traffic of two versions of one prompt, for the compare page's
tests (here and in the browser)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import numpy as np
from django.utils import timezone

from opsdash.evals.models import EvalResult
from opsdash.ingest.events import ingest_events
from tests.dashboards.conftest import fold_all
from tests.telemetry.factories import make_event, rfc3339, truncate_raw

# (version, model, median latency ms, share of calls that fail, cost of a priced call)
PLAN = [("v1", "mini", 300.0, 0.04, "0.002"), ("v2", "big", 900.0, 0.12, "0.0031")]


def make_traffic(now: dt.datetime, n: int = 3000) -> list[dict]:
    rng = np.random.default_rng(11)
    events = []
    for i in range(n):
        version, model, median, fail_share, cost = PLAN[i % 2]
        tenant = ("acme", "acme", "globex")[i % 3]  # acme twice as busy, and unlike globex
        if tenant == "globex":
            median *= 2
        roll = rng.random()
        status = "error" if roll < fail_share * 0.7 else "timeout" if roll < fail_share else "ok"
        if roll > 0.97:
            status = "rate_limited"  # not a failure of the call
        event = make_event(
            tenant,
            event_id=f"cmp-{i}",
            ts=rfc3339(now - dt.timedelta(minutes=float(rng.uniform(2, 18 * 60)))),
            model=model,
            prompt_id="answer",
            prompt_version=version,
            status=status,
            latency_ms=round(float(rng.lognormal(np.log(median), 0.4)), 3),
            ttft_ms=None,
        )
        if i % 7:
            event["cost_usd"] = float(cost)  # the rest have no price: cost unknown
        events.append(event)
    # Another prompt on the same models: in the per-model numbers, not the per-version ones.
    for i in range(60):
        events.append(make_event("acme", event_id=f"other-{i}", model="big", prompt_id="summary", prompt_version="v1",
                                 ts=rfc3339(now - dt.timedelta(minutes=30 + i)), latency_ms=50.0, ttft_ms=None,
                                 cost_usd=0.5))  # fmt: skip
    return events


def seed_evals(now: dt.datetime) -> None:
    """answer@v1 on mini, twice (the older run worse); answer@v2 on big; a safety run of v1 only."""
    rows = []

    def run(run_id, version, model, days, passed_of, suite="golden"):
        for metric, (passed, total) in passed_of.items():
            for case in range(total):
                rows.append(EvalResult(
                    run_id=run_id, ts=now - dt.timedelta(days=days), suite=suite, prompt_id="answer",
                    prompt_version=version, model=model, case_id=f"{suite}-{case}", metric=metric,
                    passed=case < passed, cost_usd=Decimal("0.01") if metric == "exact_match" else None,
                ))  # fmt: skip

    run("v1-old", "v1", "mini", 9, {"exact_match": (20, 40), "groundedness": (20, 40)})
    run("v1-new", "v1", "mini", 5, {"exact_match": (38, 40), "groundedness": (36, 40)})
    run("v1-safety", "v1", "mini", 4, {"refusal": (10, 10)}, suite="safety")
    run("v2-new", "v2", "big", 1, {"exact_match": (39, 40), "groundedness": (25, 40), "tone": (40, 40)})
    EvalResult.objects.bulk_create(rows)


def seeded() -> Iterator[list[dict]]:
    """Commit it all (tenants acme and globex must exist), yield the events, then clear the raw tables."""
    truncate_raw()
    now = timezone.now()
    events = make_traffic(now)
    result = ingest_events(events)
    assert result.accepted == len(events), result.rejected[:3]
    fold_all(len(events))
    seed_evals(now)
    yield events
    truncate_raw()
