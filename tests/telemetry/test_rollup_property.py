"""Whatever mix of valid, invalid and repeated events arrives, in whatever batches, the
rollups after a fold equal an aggregation of the raw events that were stored."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsdash.ingest.events import ingest_events
from opsdash.telemetry import rollups
from opsdash.telemetry.models import Event
from opsdash.tenants.models import Tenant
from tests.telemetry.factories import rfc3339, truncate_raw
from tests.telemetry.rollup_check import assert_rollups_match_raw

pytestmark = pytest.mark.django_db(transaction=True)

NOW = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)

valid_events = st.fixed_dictionaries(
    {
        "event_id": st.sampled_from([f"e{n}" for n in range(40)]),
        "ts": st.integers(min_value=60, max_value=3 * 3600).map(lambda s: rfc3339(NOW - dt.timedelta(seconds=s))),
        "tenant": st.sampled_from(["acme", "globex"]),
        "route": st.sampled_from(["/chat", "/search", "/summarise"]),
        "model": st.sampled_from(["gpt-4o-mini", "claude-haiku"]),
        "status": st.sampled_from(["ok", "ok", "ok", "error", "timeout", "rate_limited", "blocked"]),
        "latency_ms": st.one_of(
            st.floats(min_value=0, max_value=3_600_000, allow_nan=False),
            st.sampled_from([0, 1, 2.0, 131072.0, 131071.99999999999]),
        ),
        "input_tokens": st.integers(min_value=0, max_value=100_000_000),
        "output_tokens": st.integers(min_value=0, max_value=5000),
    },
    optional={
        "ttft_fraction": st.floats(min_value=0, max_value=1),
        "prompt_id": st.sampled_from(["faq", "triage"]),
        "prompt_version": st.sampled_from(["v1", "v2"]),
        "cost_usd": st.decimals(min_value=0, max_value=100, places=6).map(float),
        "cache_hit": st.booleans(),
        "safety": st.lists(
            st.fixed_dictionaries({"kind": st.just("jailbreak"), "severity": st.just("high")}), max_size=2
        ),
    },
).map(lambda e: _with_ttft(e))

MUTATIONS = [
    lambda e: {**e, "status": "unknown"},
    lambda e: {**e, "latency_ms": math.nan},
    lambda e: {**e, "tenant": "nobody"},
    lambda e: {**e, "ttft_ms": e["latency_ms"] + 1},
    lambda e: {k: v for k, v in e.items() if k != "route"},
    lambda e: {**e, "ts": rfc3339(NOW + dt.timedelta(hours=1))},
]
invalid_events = st.tuples(valid_events, st.sampled_from(MUTATIONS)).map(lambda pair: pair[1](pair[0]))
records = st.one_of(valid_events, valid_events, valid_events, invalid_events)
batches = st.lists(st.lists(records, min_size=1, max_size=25), min_size=1, max_size=4)


def _with_ttft(event: dict) -> dict:
    fraction = event.pop("ttft_fraction", None)
    if fraction is not None:
        event["ttft_ms"] = event["latency_ms"] * fraction
    return event


@pytest.fixture
def tenants(transactional_db):
    return [Tenant.objects.create(slug=slug, name=slug) for slug in ("acme", "globex")]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=batches, fold_between=st.booleans())
def test_it_rolls_up_exactly_what_was_stored(tenants, batches, fold_between):
    truncate_raw()
    first_seen: dict[tuple[str, str], dict] = {}
    for batch in batches:
        result = ingest_events(batch)
        assert result.accepted + result.duplicates + len(result.rejected) == len(batch)
        if fold_between:
            rollups.refresh_rollups()
        rejected = {r.index for r in result.rejected}
        for index, event in enumerate(batch):
            if index not in rejected:
                first_seen.setdefault((event["tenant"], event["event_id"]), event)
    rollups.refresh_rollups()

    stored = {(e.tenant.slug, e.event_id): e for e in Event.objects.select_related("tenant")}
    assert set(stored) == set(first_seen)
    for key, event in first_seen.items():
        assert stored[key].latency_ms == float(event["latency_ms"])
    assert_rollups_match_raw()
