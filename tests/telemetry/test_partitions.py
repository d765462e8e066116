"""Day partitions of the raw event table: created ahead, dropped past retention."""

from __future__ import annotations

import datetime as dt

import pytest

from opsdash.ingest.events import ingest_events
from opsdash.telemetry import partitions, tasks
from opsdash.telemetry.models import Event
from tests.telemetry.factories import make_event, rfc3339, scalar


def test_it_creates_today_and_the_next_week(db):
    today = dt.datetime.now(dt.UTC).date()
    partitions.create_ahead(today)
    days = partitions.existing_days()
    assert {today + dt.timedelta(days=n) for n in range(8)} <= days


def test_it_drops_whole_days_past_retention(acme, settings):
    now = dt.datetime.now(dt.UTC)
    old, kept = make_event(ts=rfc3339(now - dt.timedelta(days=12))), make_event(ts=rfc3339(now - dt.timedelta(days=2)))
    assert ingest_events([old, kept]).accepted == 2
    settings.OPSDASH_EVENT_RETENTION_DAYS = 10
    dropped = partitions.drop_expired(now)
    assert partitions.partition_name((now - dt.timedelta(days=12)).date()) in dropped
    assert partitions.partition_name((now - dt.timedelta(days=2)).date()) not in dropped
    assert list(Event.objects.filter(tenant=acme).values_list("event_id", flat=True)) == [kept["event_id"]]
    assert scalar("SELECT count(*) FROM telemetry_event_key WHERE event_id = %s", [old["event_id"]]) == 0
    assert all((now - dt.datetime.combine(d, dt.time.min, tzinfo=dt.UTC)).days < 11 for d in partitions.existing_days())


def test_it_recreates_a_partition_dropped_behind_its_back(acme, settings):
    now = dt.datetime.now(dt.UTC)
    day = now - dt.timedelta(days=3)
    assert ingest_events([make_event(ts=rfc3339(day))]).accepted == 1
    partitions._known.add(day.date())  # as if a previous commit had cached it
    settings.OPSDASH_EVENT_RETENTION_DAYS = 2
    partitions.drop_expired(now)
    partitions._known.add(day.date())  # the cache of another process still believes in it
    settings.OPSDASH_EVENT_RETENTION_DAYS = 35
    assert ingest_events([make_event(ts=rfc3339(day))]).accepted == 1


@pytest.mark.django_db
def test_the_maintenance_task_creates_and_drops(settings):
    result = tasks.maintain_storage()
    assert set(result) == {"created", "dropped", "pruned"}
    assert dt.datetime.now(dt.UTC).date() + dt.timedelta(days=7) in partitions.existing_days()
