"""Writes of the event store: raw events COPYed into the partitioned table.

One batch is one transaction:

1. the idempotency keys (tenant_id, event_id) go into ``telemetry_event_key`` with
   ``ON CONFLICT DO NOTHING RETURNING``, in sorted order so two concurrent batches
   sharing keys queue behind each other instead of deadlocking;
2. only the rows whose key was new are COPYed (binary) into ``telemetry_event``;
3. the caller's ``then`` writes what belongs with those rows (flags, messages) in the
   same transaction, through the owning apps' services.

A retried batch therefore changes nothing and counts every event as a duplicate.
Rollups are not touched here (their rows are hot and would serialise concurrent
batches); ``rollups.refresh_rollups`` folds committed events in from a cursor.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import orjson
import psycopg
from django.db import connection, transaction

from opsdash.telemetry import partitions
from opsdash.telemetry.rollups import INGEST_LOCK

log = logging.getLogger(__name__)

# The columns of telemetry_event a row carries, in COPY order (ingest builds rows in it).
COPY_COLUMNS = (
    "ts",
    "tenant_id",
    "event_id",
    "route",
    "model",
    "provider",
    "prompt_id",
    "prompt_version",
    "status",
    "latency_ms",
    "ttft_ms",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "cache_hit",
    "conversation_id",
    "trace_id",
    "user_hash",
    "safety_count",
)
COPY_TYPES = (
    "timestamptz",
    "int8",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "float8",
    "float8",
    "int4",
    "int4",
    "numeric",
    "bool",
    "text",
    "text",
    "text",
    "int2",
)
COL = {name: i for i, name in enumerate(COPY_COLUMNS)}
_TS, _TENANT, _EVENT_ID = COL["ts"], COL["tenant_id"], COL["event_id"]

# Keys travel as one JSON document: psycopg dumps Python lists into arrays in pure Python
# (~20 ms per 1,000 keys), orjson and json_to_recordset take well under a millisecond.
KEY_SQL = (
    "INSERT INTO telemetry_event_key (tenant_id, event_id, ts) "
    "SELECT t, e, s FROM json_to_recordset(%s::json) AS k(t bigint, e text, s timestamptz) "
    "ON CONFLICT DO NOTHING RETURNING tenant_id, event_id"
)
COPY_SQL = f"COPY telemetry_event ({', '.join(COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
COPY_WITH_XID_SQL = f"COPY telemetry_event ({', '.join(COPY_COLUMNS)}, xid) FROM STDIN (FORMAT BINARY)"
BEGIN_SQL = "SELECT pg_advisory_xact_lock_shared(%s), pg_current_xact_id_if_assigned()::text::bigint"
# The cursor row is read FOR SHARE so that a fold cannot move it while this batch writes.
CURSOR_SQL = "SELECT greatest(%s, xid) FROM telemetry_rollup_cursor WHERE id = 1 FOR SHARE"


def store_events(rows: list[list[Any]], then: Callable[[list[int]], None] | None = None) -> int:
    """Store the rows whose (tenant_id, event_id) is new; returns how many were stored.

    ``then`` is called inside the batch's transaction with the positions in ``rows`` of
    the stored ones, so that their side records commit or roll back with them.
    """
    days = {row[_TS].astimezone(dt.UTC).date() for row in rows}
    partitions.ensure_days(days)
    try:
        return _store(rows, then)
    except psycopg.errors.CheckViolation as exc:
        # A partition this process believed in was dropped meanwhile: look again, once.
        if "no partition" not in str(exc):
            raise
        partitions.forget_known()
        partitions.ensure_days(days)
        return _store(rows, then)
    except psycopg.errors.DeadlockDetected:
        log.warning("ingest batch hit a deadlock; retrying once")
        return _store(rows, then)


def _store(rows: list[list[Any]], then: Callable[[list[int]], None] | None) -> int:
    order = sorted(range(len(rows)), key=lambda i: (rows[i][_TENANT], rows[i][_EVENT_ID]))
    with transaction.atomic():
        connection.ensure_connection()
        raw = connection.connection
        with psycopg.Cursor(raw) as cursor:
            xid = begin_ingest(cursor)
            keys = orjson.dumps([{"t": rows[i][_TENANT], "e": rows[i][_EVENT_ID], "s": rows[i][_TS]} for i in order])
            cursor.execute(KEY_SQL, [keys.decode()])
            if cursor.rowcount < len(order):  # some were stored before: keep the new ones
                new_keys = set(cursor.fetchall())
                order = [i for i in order if (rows[i][_TENANT], rows[i][_EVENT_ID]) in new_keys]
            if not order:
                return 0
            if xid is None:
                with cursor.copy(COPY_SQL) as copy:
                    copy.set_types(COPY_TYPES)
                    write = copy.write_row
                    for i in order:
                        write(rows[i])
            else:
                with cursor.copy(COPY_WITH_XID_SQL) as copy:
                    copy.set_types((*COPY_TYPES, "int8"))
                    for i in order:
                        copy.write_row((*rows[i], xid))
        if then is not None:
            then(order)
    return len(order)


def begin_ingest(cursor: psycopg.Cursor) -> int | None:
    """Announce an ingest to the rollup folder before the first write (see rollups.horizon).

    Returns None when the rows may take their transaction's id. When the surrounding
    transaction had written before (an ingest nested in a caller's atomic block), its id
    predates the announcement and a fold may already have passed it; its rows then carry
    the cursor's value instead, which no fold passes while this transaction holds the lock.
    """
    cursor.execute(BEGIN_SQL, [INGEST_LOCK])
    assigned = cursor.fetchone()[1]  # type: ignore[index]
    if assigned is None:
        return None
    cursor.execute(CURSOR_SQL, [assigned])
    return int(cursor.fetchone()[0])  # type: ignore[index]
