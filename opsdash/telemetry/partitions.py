"""Day partitions of ``telemetry_event``: created ahead by a beat task and on demand by
ingest (backfills), dropped whole once older than the retention.

Creating and dropping go through ``telemetry_event_create_partition(date)`` and
``telemetry_event_drop_partition(date)`` (migration telemetry 0005): they run with the
table owner's rights, so the application's role in production needs to own nothing
(docs/database-roles.md), and the path is the same when it is the owner."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from django.conf import settings
from django.db import connection, transaction

PARENT = "telemetry_event"
_NAME = re.compile(r"^telemetry_event_p(\d{8})$")
# Any fixed number: serialises partition DDL between processes.
_DDL_LOCK = 7_301_001

# Days whose partition this process has seen committed; cleared when a COPY finds one missing.
_known: set[dt.date] = set()


def partition_name(day: dt.date) -> str:
    return f"{PARENT}_p{day:%Y%m%d}"


def retention_days() -> int:
    return int(settings.OPSDASH_EVENT_RETENTION_DAYS)


def retention_cutoff(now: dt.datetime) -> dt.datetime:
    """Events before this instant are past retention: refused on ingest, dropped by the beat."""
    return now - dt.timedelta(days=retention_days())


def existing_days() -> set[dt.date]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [PARENT],
        )
        names = [row[0] for row in cursor.fetchall()]
    days = set()
    for name in names:
        match = _NAME.match(name)
        if match:
            days.add(dt.datetime.strptime(match.group(1), "%Y%m%d").date())
    return days


def ensure_days(days: Iterable[dt.date]) -> int:
    """Make sure a partition exists for each day; returns how many were created."""
    missing = set(days) - _known
    if not missing:
        return 0
    created = 0
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_DDL_LOCK])
        present = existing_days()
        for day in sorted(missing - present):
            # [00:00, 24:00) UTC of the day, as before; the function builds name and bounds.
            with connection.cursor() as cursor:
                cursor.execute("SELECT telemetry_event_create_partition(%s::date)", [day])
                if cursor.fetchone()[0]:
                    created += 1
        # Only remember partitions once they are committed: a rolled-back creation
        # (a failed request, a test) must be looked up again next time.
        transaction.on_commit(lambda: _known.update(missing))
    return created


def forget_known() -> None:
    _known.clear()


def create_ahead(today: dt.date | None = None, days_ahead: int = 7) -> int:
    today = today or dt.datetime.now(dt.UTC).date()
    return ensure_days(today + dt.timedelta(days=n) for n in range(days_ahead + 1))


def drop_expired(now: dt.datetime | None = None) -> list[str]:
    """Drop partitions whose whole day is past retention; returns their names."""
    now = now or dt.datetime.now(dt.UTC)
    cutoff = retention_cutoff(now)
    dropped = []
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_DDL_LOCK])
        for day in sorted(existing_days()):
            day_end = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC) + dt.timedelta(days=1)
            if day_end <= cutoff:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT telemetry_event_drop_partition(%s::date)", [day])
                    if cursor.fetchone()[0]:
                        dropped.append(partition_name(day))
                _known.discard(day)
        with connection.cursor() as cursor:
            # Keys of events past retention can go: such events are refused anyway.
            cursor.execute("DELETE FROM telemetry_event_key WHERE ts < %s", [cutoff])
    return dropped
