"""Folding committed events into the minute and hour rollups from the xid cursor."""

from __future__ import annotations

import datetime as dt
import io
import threading
from decimal import Decimal

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection, transaction

from opsdash.ingest.events import ingest_events
from opsdash.lib import histogram
from opsdash.telemetry import rollups
from opsdash.telemetry.models import ModelPrice, RollupHour, RollupMinute
from tests.telemetry.factories import make_event, rfc3339, scalar
from tests.telemetry.rollup_check import assert_rollups_match_raw

pytestmark = pytest.mark.django_db(transaction=True)

HOUR = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=2)


def at(minute: int, second: int = 0) -> str:
    return rfc3339(HOUR + dt.timedelta(minutes=minute, seconds=second))


@pytest.fixture
def traffic(empty_raw, acme, globex):
    ModelPrice.objects.create(
        model="gpt-4o-mini",
        provider="",
        input_usd_per_mtok=Decimal("1"),
        output_usd_per_mtok=Decimal("2"),
        effective_from=HOUR - dt.timedelta(days=1),
    )
    events = [
        make_event(ts=at(0, 5), latency_ms=100, ttft_ms=20, input_tokens=1000, output_tokens=500),
        make_event(ts=at(0, 40), status="error", latency_ms=3000, ttft_ms=None, input_tokens=10, output_tokens=0),
        make_event(
            ts=at(1), route="/search", cache_hit=True, latency_ms=0.5, ttft_ms=0.2, input_tokens=0, output_tokens=0
        ),
        make_event(
            ts=at(75),
            tenant="globex",
            model="homegrown",
            prompt_id="faq",
            prompt_version="v2",
            status="timeout",
            latency_ms=200_000,
            ttft_ms=None,
            safety=[{"kind": "jailbreak", "severity": "high"}],
        ),
    ]
    assert ingest_events(events).accepted == 4
    return events


def rollup(table, grouping, **dims):
    return table.objects.get(
        grouping=grouping, **{"tenant_id": 0, "route": "", "model": "", "prompt_id": "", "prompt_version": "", **dims}
    )


def test_it_folds_committed_events_into_every_grouping(traffic, acme, globex):
    assert rollups.refresh_rollups() == 4
    total = rollup(RollupHour, rollups.ALL, bucket=HOUR)
    assert (total.requests, total.ok, total.errors, total.cache_hits) == (3, 2, 1, 1)
    assert (total.input_tokens, total.output_tokens) == (1010, 500)
    assert total.cost_usd == Decimal("0.002010")  # 1000 * 1e-6 + 500 * 2e-6 + 10 * 1e-6
    assert total.cost_unknown == 0
    assert total.latency_sum_ms == 3100.5
    assert sorted(total.latency_hist_idx) == total.latency_hist_idx
    assert dict(zip(total.latency_hist_idx, total.latency_hist_cnt, strict=True)) == {
        histogram.bucket_of(0.5): 1,
        histogram.bucket_of(100): 1,
        histogram.bucket_of(3000): 1,
    }
    assert sum(total.ttft_hist_cnt) == 2

    later = rollup(
        RollupHour,
        rollups.TENANT_PROMPT,  # tenant breakdowns are kept per day in the hour table
        bucket=(HOUR + dt.timedelta(hours=1)).replace(hour=0),
        tenant_id=globex.pk,
        prompt_id="faq",
        prompt_version="v2",
    )
    assert (later.requests, later.timeouts, later.safety_flags, later.cost_unknown) == (1, 1, 1, 1)
    assert later.latency_hist_idx == [histogram.OVERFLOW]
    assert later.ttft_hist_idx == []

    search = rollup(RollupMinute, rollups.TENANT_ROUTE, bucket=HOUR, tenant_id=acme.pk, route="/search")
    assert search.requests == 1
    assert rollup(RollupMinute, rollups.ROUTE, bucket=HOUR, route="/chat").requests == 2
    assert rollup(RollupMinute, rollups.MODEL, bucket=HOUR, model="gpt-4o-mini").requests == 2
    assert_rollups_match_raw()


def test_it_keeps_far_fewer_rows_than_it_folds_when_traffic_repeats(empty_raw, acme):
    events = [make_event(ts=at(10, n % 60), route=f"/r{n % 3}") for n in range(300)]
    assert ingest_events(events).accepted == 300
    rollups.refresh_rollups()
    assert RollupMinute.objects.count() == 1 + 3 + 1 + 1 + 1 + 3 + 1 + 1


def test_it_folds_each_event_once(traffic):
    assert rollups.refresh_rollups() == 4
    assert rollups.refresh_rollups() == 0
    assert ingest_events([make_event(ts=at(0, 1)), *traffic]).accepted == 1
    assert rollups.refresh_rollups() == 1
    assert rollup(RollupHour, rollups.ALL, bucket=HOUR).requests == 4
    assert_rollups_match_raw()


def test_it_waits_for_ingests_still_in_flight(empty_raw, acme):
    """An event of an ingest still open is folded once it commits, even though younger
    ingests committed meanwhile: the fold stops short of the oldest ingest in flight."""
    params = connection.get_connection_params()
    with psycopg.connect(**params) as other:
        other.execute("SELECT pg_advisory_xact_lock_shared(%s)", [rollups.INGEST_LOCK])
        other.execute(
            "INSERT INTO telemetry_event (ts, tenant_id, event_id, route, model, status, latency_ms, "
            "input_tokens, output_tokens) VALUES (%s, %s, 'slow', '/chat', 'm', 'ok', 5, 1, 1)",
            [HOUR, acme.pk],
        )
        assert ingest_events([make_event(ts=at(1)), make_event(ts=at(2))]).accepted == 2
        assert rollups.refresh_rollups() == 0
        other.commit()
    assert rollups.refresh_rollups() == 3
    assert rollups.refresh_rollups() == 0
    assert rollup(RollupHour, rollups.ALL, bucket=HOUR).requests == 3
    assert_rollups_match_raw()


def test_it_is_not_held_back_by_other_writers(empty_raw, acme):
    params = connection.get_connection_params()
    with psycopg.connect(**params) as other:
        other.execute("UPDATE tenants_tenant SET name = name WHERE id = %s", [acme.pk])
        assert ingest_events([make_event()]).accepted == 1
        assert rollups.refresh_rollups() == 1
        other.rollback()


def test_it_is_not_held_back_by_ingests_into_other_databases(empty_raw, acme):
    params = {**connection.get_connection_params(), "dbname": "postgres"}
    with psycopg.connect(**params) as other:
        other.execute("SELECT pg_advisory_xact_lock_shared(%s)", [rollups.INGEST_LOCK])
        other.execute("SELECT pg_current_xact_id()")  # in flight, with an id, elsewhere
        assert ingest_events([make_event()]).accepted == 1
        assert rollups.refresh_rollups() == 1
        other.rollback()


def elsewhere(work):
    """Run ``work`` on another connection (a thread) and return its result."""
    results = []

    def run():
        try:
            results.append(work())
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return results[0]


def test_it_folds_events_ingested_inside_a_callers_transaction(empty_raw, acme):
    with transaction.atomic():
        acme.name = "Acme Inc"
        acme.save()  # this transaction now has an id, older than the ingest below
        assert elsewhere(lambda: ingest_events([make_event()]).accepted) == 1
        assert elsewhere(rollups.refresh_rollups) == 1  # the cursor moves past this transaction
        assert ingest_events([make_event()]).accepted == 1
    assert rollups.refresh_rollups() == 1
    assert_rollups_match_raw()


def test_it_lets_only_one_fold_run(traffic):
    params = connection.get_connection_params()
    with psycopg.connect(**params) as other:
        other.execute("SELECT pg_advisory_xact_lock(%s)", [rollups._FOLD_LOCK])
        assert rollups.fold() is None
    assert rollups.refresh_rollups() == 4


def test_it_counts_everything_under_concurrent_ingest(empty_raw, acme, globex):
    batches = [[make_event(ts=at(n % 90), tenant=("acme", "globex")[n % 2]) for n in range(50)] for _ in range(6)]
    errors = []

    def send(batch):
        try:
            ingest_events(batch)
            rollups.refresh_rollups()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rollups.refresh_rollups()
    assert scalar("SELECT sum(requests) FROM telemetry_rollup_hour WHERE grouping = 0") == 300
    assert_rollups_match_raw()


def test_it_leaves_minute_rollups_out_past_their_retention(empty_raw, acme, settings):
    settings.OPSDASH_MINUTE_ROLLUP_DAYS = 3
    old = make_event(ts=rfc3339(dt.datetime.now(dt.UTC) - dt.timedelta(days=4)))
    ingest_events([old, make_event()])
    rollups.refresh_rollups()
    assert scalar("SELECT sum(requests) FROM telemetry_rollup_minute WHERE grouping = 0") == 1
    assert scalar("SELECT sum(requests) FROM telemetry_rollup_hour WHERE grouping = 0") == 2
    assert_rollups_match_raw(minute_since=rollups.minute_cutoff())


def test_it_prunes_old_rollups(empty_raw, acme, settings):
    ingest_events([make_event(ts=rfc3339(dt.datetime.now(dt.UTC) - dt.timedelta(days=2)))])
    rollups.refresh_rollups()
    settings.OPSDASH_MINUTE_ROLLUP_DAYS = 1
    deleted = rollups.prune()
    assert deleted["telemetry_rollup_minute"] == 8
    assert deleted["telemetry_rollup_hour"] == 0
    assert RollupMinute.objects.count() == 0


def test_it_rebuilds_rollups_from_raw_events(traffic):
    rollups.refresh_rollups()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE telemetry_rollup_hour SET requests = requests + 100")
        cursor.execute("DELETE FROM telemetry_rollup_minute WHERE grouping = 5")
    call_command("rebuild_rollups", stdout=io.StringIO())
    assert_rollups_match_raw()


def test_it_rebuilds_only_the_days_asked_for(traffic):
    day_before = HOUR - dt.timedelta(days=1)
    ingest_events([make_event(ts=rfc3339(day_before))])
    rollups.refresh_rollups()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE telemetry_rollup_hour SET requests = requests + 7")
    ingest_events([make_event(ts=at(2))])  # pending, inside the rebuilt day
    since = (HOUR + dt.timedelta(minutes=10)).isoformat()
    call_command("rebuild_rollups", "--since", since, stdout=io.StringIO())
    # The whole UTC day of `since` is rebuilt, the pending event with it; the day before is kept.
    assert rollup(RollupHour, rollups.ALL, bucket=HOUR + dt.timedelta(hours=1)).requests == 1
    assert rollup(RollupHour, rollups.ALL, bucket=HOUR).requests == 3 + 1
    assert rollup(RollupHour, rollups.ALL, bucket=day_before).requests == 1 + 7
    assert rollups.refresh_rollups() == 0
