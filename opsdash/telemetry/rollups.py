"""Rollups of raw events per minute and per hour, folded in from a transaction-id cursor.

Every event row carries the id of the transaction that wrote it (``xid``). A fold takes
the rows with ``cursor <= xid < horizon`` and moves the cursor to ``horizon`` in the same
transaction, so every committed event is counted exactly once however ingests interleave.

The horizon is the oldest transaction that may still add events: the smaller of the
snapshot's ``xmax`` (no transaction started later has an id below it) and the id of the
oldest ingest still in flight. Ingests announce themselves with a shared advisory lock
taken before their first write (``INGEST_LOCK``), so they are found in ``pg_locks``.
``pg_snapshot_xmin`` would also be safe, but it is cluster-wide: any long writing
transaction in any database of the server (a bulk job, another application, a test run)
would stall the rollups. Only ingests can.

The aggregation is SQL over the new rows only: per grain, one hashed GROUPING SETS scan
computes every grouping's sums and gathers its histogram bucket indexes, which are then
counted into sorted (index, count) arrays per row and upserted, merging with existing rows
through ``opsdash_hist_merge_*``. An advisory lock keeps a second folder out instead of
making it wait. A rebuild folds one UTC day at a time (no rollup row spans two days), so
its memory stays that of a day however much history it covers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from opsdash.telemetry import partitions

# Dimensions a rollup row can be grouped by. A grouping's number is stored in each row and
# is part of the contract with the read plane: add new ones, never renumber.
ALL = 0
ROUTE = 1
MODEL = 2
PROMPT = 3
TENANT = 4
TENANT_ROUTE = 5
TENANT_MODEL = 6
TENANT_PROMPT = 7

GROUPINGS: dict[int, tuple[str, ...]] = {
    ALL: (),
    ROUTE: ("route",),
    MODEL: ("model",),
    PROMPT: ("prompt",),
    TENANT: ("tenant",),
    TENANT_ROUTE: ("tenant", "route"),
    TENANT_MODEL: ("tenant", "model"),
    TENANT_PROMPT: ("tenant", "prompt"),
}

GRAINS = {"minute": "telemetry_rollup_minute", "hour": "telemetry_rollup_hour", "day": "telemetry_rollup_day"}

# A tenant crossed with a route, model or prompt has so many combinations that at the
# table's own grain nearly every event would get a row of its own. These groupings are
# kept one step coarser: per hour in the minute table, per day in the hour table.
COARSE_GROUPINGS = frozenset({TENANT_ROUTE, TENANT_MODEL, TENANT_PROMPT})
COARSER = {"minute": "hour", "hour": "day", "day": "day"}
# The day table lets long ranges read a row per day instead of 24. It holds only the
# groupings the hour table keeps per hour: the others are per day there already.
DAY_GROUPINGS = frozenset(GROUPINGS) - COARSE_GROUPINGS
# Each fold pass scans the new events once and fills these tables.
PASSES = {"minute": ("minute",), "hour": ("hour", "day")}


def groupings_in(grain: str) -> frozenset[int]:
    return DAY_GROUPINGS if grain == "day" else frozenset(GROUPINGS)


def bucket_width(grain: str, grouping: int) -> dt.timedelta:
    """How much time one row of ``grouping`` covers in the ``grain`` table."""
    unit = COARSER[grain] if grouping in COARSE_GROUPINGS else grain
    return {"minute": dt.timedelta(minutes=1), "hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1)}[unit]


KEY_COLUMNS = ("grouping", "tenant_id", "bucket", "route", "model", "prompt_id", "prompt_version")
# (column, aggregate over raw events, how a fold adds to an existing row)
SUMS = (
    ("requests", "count(*)"),
    ("ok", "count(*) FILTER (WHERE status = 'ok')"),
    ("errors", "count(*) FILTER (WHERE status = 'error')"),
    ("timeouts", "count(*) FILTER (WHERE status = 'timeout')"),
    ("rate_limited", "count(*) FILTER (WHERE status = 'rate_limited')"),
    ("blocked", "count(*) FILTER (WHERE status = 'blocked')"),
    ("cache_hits", "count(*) FILTER (WHERE cache_hit)"),
    ("input_tokens", "sum(input_tokens)"),
    ("output_tokens", "sum(output_tokens)"),
    ("cost_usd", "coalesce(sum(cost_usd), 0)"),
    ("cost_unknown", "count(*) FILTER (WHERE cost_usd IS NULL)"),
    ("latency_sum_ms", "sum(latency_ms)"),
    ("safety_flags", "sum(safety_count)"),
)
HISTOGRAMS = ("latency", "ttft")

_FOLD_LOCK = 7_301_002
# Held shared by every ingest transaction from before its first write until it ends.
INGEST_LOCK = 7_301_003

# Transaction ids (32-bit, as pg_locks shows them) of the ingests in flight.
_INFLIGHT_SQL = """
WITH l AS MATERIALIZED (
    SELECT locktype, database, classid, objid, objsubid, transactionid, pid, mode, granted FROM pg_locks
)
SELECT x.transactionid::text::bigint
FROM l a JOIN l x ON x.pid = a.pid
WHERE a.locktype = 'advisory' AND a.classid = 0 AND a.objid = %s AND a.objsubid = 1 AND a.granted
  AND a.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND x.locktype = 'transactionid' AND x.mode = 'ExclusiveLock' AND x.granted
"""


@dataclass(frozen=True)
class FoldStats:
    events: int
    rows: dict[str, int]


# Buckets are cut with date_bin from a UTC midnight: the same edges as date_trunc in UTC,
# without a time-zone lookup per row and per grouping (a third of the fold's time).
_ORIGIN = "timestamptz '2000-01-01 00:00:00+00'"
_WIDTH_SQL = {"minute": "1 minute", "hour": "1 hour", "day": "1 day"}
# GROUPING(tenant_id, route, model, prompt_id) has a bit set for each column a grouping
# leaves out, tenant first: the mask tells which grouping a result row belongs to.
_MASK_BITS = {"tenant": 8, "route": 4, "model": 2, "prompt": 1}
_SET_COLUMNS = {"tenant": "tenant_id", "route": "route", "model": "model", "prompt": "prompt_id, prompt_version"}


def _mask(dims: tuple[str, ...]) -> int:
    return sum(bit for dim, bit in _MASK_BITS.items() if dim not in dims)


def _aggregate_sql(grain: str, where: str) -> str:
    """One pass over the selected raw events: every grouping's sums and the bucket indexes
    of both histograms (gathered unsorted, counted later per row), for the tables of the
    ``grain`` pass (see PASSES); ``target`` says which table a row goes to.

    All groupings come out of one hashed GROUPING SETS scan; each event is hashed once per
    grouping, never copied into intermediate rows per grouping.
    """
    sets = []
    for number, dims in GROUPINGS.items():
        time = "cb" if number in COARSE_GROUPINGS else "fb"
        sets.append("(" + ", ".join([time, *(_SET_COLUMNS[d] for d in dims)]) + ")")
    if "day" in PASSES[grain]:
        for number in sorted(DAY_GROUPINGS):
            sets.append("(" + ", ".join(["cb", *(_SET_COLUMNS[d] for d in GROUPINGS[number])]) + ")")
    grouping = " ".join(f"WHEN {_mask(dims)} THEN {number}" for number, dims in GROUPINGS.items())
    coarse_masks = ", ".join(str(_mask(GROUPINGS[g])) for g in sorted(COARSE_GROUPINGS))
    sums = ",\n    ".join(f"{agg} AS {name}" for name, agg in SUMS)
    return f"""
CREATE TEMP TABLE rollup_fold_{grain} ON COMMIT DROP AS
SELECT (CASE GROUPING(tenant_id, route, model, prompt_id) {grouping} END)::smallint AS grouping,
    CASE WHEN GROUPING(fb) = 1 AND GROUPING(tenant_id, route, model, prompt_id) NOT IN ({coarse_masks})
        THEN 'day' ELSE '{grain}' END AS target,
    coalesce(tenant_id, 0) AS tenant_id, coalesce(fb, cb) AS bucket, coalesce(route, '') AS route,
    coalesce(model, '') AS model, coalesce(prompt_id, '') AS prompt_id, coalesce(prompt_version, '') AS prompt_version,
    {sums},
    array_agg(lb) AS latency_buckets,
    array_agg(tb) FILTER (WHERE tb IS NOT NULL) AS ttft_buckets
FROM (
    -- OFFSET 0 keeps this a subquery, so each expression is computed once per event
    -- rather than once per grouping; "C" makes hashing and comparing the keys bytewise.
    SELECT tenant_id, route COLLATE "C" AS route, model COLLATE "C" AS model,
        coalesce(prompt_id, '') COLLATE "C" AS prompt_id, coalesce(prompt_version, '') COLLATE "C" AS prompt_version,
        date_bin('{_WIDTH_SQL[grain]}', ts, {_ORIGIN}) AS fb,
        date_bin('{_WIDTH_SQL[COARSER[grain]]}', ts, {_ORIGIN}) AS cb,
        status, cache_hit, input_tokens, output_tokens, cost_usd, latency_ms, safety_count,
        opsdash_hist_bucket(latency_ms) AS lb, opsdash_hist_bucket(ttft_ms) AS tb
    FROM telemetry_event
    WHERE {where}
    OFFSET 0
) e
GROUP BY GROUPING SETS ({", ".join(sets)})
"""


def _histogram_sql(column: str) -> str:
    """The sorted (bucket indexes, counts) arrays of one row's gathered bucket indexes."""
    return f"""CROSS JOIN LATERAL (
    SELECT coalesce(array_agg(b ORDER BY b), '{{}}') AS idx, coalesce(array_agg(n ORDER BY b), '{{}}') AS cnt
    FROM (SELECT b, count(*)::integer AS n FROM unnest(f.{column}) AS b GROUP BY b) AS cells
) AS {column}"""


def _upsert_sql(grain: str, target: str) -> str:
    """Add the rows of the ``grain`` pass meant for ``target``'s table into it, merging
    histograms with existing rows."""
    table = GRAINS[target]
    keys = ", ".join(KEY_COLUMNS)
    sum_cols = [name for name, _ in SUMS]
    hist_cols = [f"{h}_hist_{part}" for h in HISTOGRAMS for part in ("idx", "cnt")]
    hist_values = [f"{h}_buckets.{part}" for h in HISTOGRAMS for part in ("idx", "cnt")]
    updates = [f"{name} = r.{name} + excluded.{name}" for name in sum_cols]
    for h in HISTOGRAMS:
        updates.append(f"{h}_hist_idx = opsdash_hist_merge_idx(r.{h}_hist_idx, excluded.{h}_hist_idx)")
        updates.append(
            f"{h}_hist_cnt = opsdash_hist_merge_cnt(r.{h}_hist_idx, r.{h}_hist_cnt, "
            f"excluded.{h}_hist_idx, excluded.{h}_hist_cnt)"
        )
    update_sql = ",\n    ".join(updates)
    return f"""
INSERT INTO {table} AS r ({keys}, {", ".join(sum_cols)}, {", ".join(hist_cols)})
SELECT {", ".join(f"f.{k}" for k in KEY_COLUMNS)}, {", ".join(f"f.{c}" for c in sum_cols)}, {", ".join(hist_values)}
FROM rollup_fold_{grain} f
{_histogram_sql("latency_buckets")}
{_histogram_sql("ttft_buckets")}
WHERE f.target = '{target}'
ON CONFLICT ({keys}) DO UPDATE SET
    {update_sql}
"""


def horizon(cursor) -> int:  # type: ignore[no-untyped-def]
    """Every event with an xid below this is committed or rolled back, and final."""
    # The snapshot first: an ingest whose id is below its xmax already held the lock then,
    # so it is either still listed in pg_locks just after, or over.
    cursor.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
    xmax = int(cursor.fetchone()[0])
    cursor.execute(_INFLIGHT_SQL, [INGEST_LOCK])
    oldest = xmax
    for (xid32,) in cursor.fetchall():
        # pg_locks shows 32-bit ids; put back the epoch of xmax (the id is at most 2^31 older).
        full = (xmax & ~0xFFFFFFFF) | int(xid32)
        if full > xmax:
            full -= 1 << 32
        oldest = min(oldest, full)
    return oldest


def _fold(cursor, where: str, params: list[object], minute_since: dt.datetime | None = None) -> FoldStats:  # type: ignore[no-untyped-def]
    # One folder at a time, hashing up to a few million groups: keep them in memory.
    cursor.execute("SELECT current_setting('work_mem')")
    saved = cursor.fetchone()[0]
    cursor.execute("SET LOCAL work_mem = '1GB'")
    rows = {table: 0 for table in GRAINS.values()}
    events = 0
    for grain, targets in PASSES.items():
        grain_where, grain_params = where, list(params)
        if grain == "minute" and minute_since is not None:
            grain_where, grain_params = f"({where}) AND ts >= %s", [*params, minute_since]
        cursor.execute(_aggregate_sql(grain, grain_where), grain_params)
        if grain == "hour":
            cursor.execute(
                f"SELECT coalesce(sum(requests), 0) FROM rollup_fold_hour WHERE grouping = {ALL} AND target = 'hour'"
            )
            events = int(cursor.fetchone()[0])
        for target in targets:
            cursor.execute(_upsert_sql(grain, target))
            rows[GRAINS[target]] = cursor.rowcount
        cursor.execute(f"DROP TABLE rollup_fold_{grain}")
    # Put it back for the rest of a caller's transaction (SET LOCAL lasts until its end).
    cursor.execute("SELECT set_config('work_mem', %s, true)", [saved])
    return FoldStats(events, rows)


def fold() -> FoldStats | None:
    """One fold; None when another folder runs, or a nested ingest holds the cursor for now."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_FOLD_LOCK])
        if not cursor.fetchone()[0]:
            return None
        # Locked FOR SHARE by an ingest nested in a caller's transaction: try again later.
        cursor.execute("SELECT xid FROM telemetry_rollup_cursor WHERE id = 1 FOR UPDATE SKIP LOCKED")
        row = cursor.fetchone()
        if row is None:
            return None
        start = int(row[0])
        upto = horizon(cursor)
        if upto <= start:
            return FoldStats(0, {})
        stats = _fold(cursor, "xid >= %s AND xid < %s", [start, upto], minute_cutoff())
        cursor.execute(
            "UPDATE telemetry_rollup_cursor SET xid = %s, folded_at = now(), "
            "events_folded = events_folded + %s WHERE id = 1",
            [upto, stats.events],
        )
        return stats


def refresh_rollups() -> int:
    """Fold all committed events not yet in the rollups into them; returns how many."""
    stats = fold()
    return stats.events if stats else 0


def minute_cutoff(now: dt.datetime | None = None) -> dt.datetime:
    now = now or dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(days=int(settings.OPSDASH_MINUTE_ROLLUP_DAYS))
    return start.replace(second=0, microsecond=0)


def rebuild(since: dt.datetime | None = None) -> FoldStats:
    """Recompute the rollups from raw events (from ``since``, aligned down to the UTC day).

    Runs under the fold lock, waiting for it. Pending events before the range are folded
    as usual, then every rollup row in the range is replaced by an aggregation of all the
    committed raw events in it, and the cursor moves past all of them.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_FOLD_LOCK])
        cursor.execute("SELECT xid FROM telemetry_rollup_cursor WHERE id = 1 FOR UPDATE")
        start = int(cursor.fetchone()[0])
        upto = horizon(cursor)
        cutoff = minute_cutoff()
        # Whole UTC days: the hour table keeps tenant breakdowns per day (COARSE_GROUPINGS).
        hour = since.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0) if since else None
        if hour is not None and upto > start:
            # Pending events before the rebuilt range are folded as usual.
            _fold(cursor, "xid >= %s AND xid < %s AND ts < %s", [start, upto, hour], cutoff)
        for table in GRAINS.values():
            if hour is None:
                cursor.execute(f"DELETE FROM {table}")
            else:
                cursor.execute(f"DELETE FROM {table} WHERE bucket >= %s", [hour])
        cursor.execute(
            "SELECT min(ts), max(ts) FROM telemetry_event WHERE xid < %s AND ts >= %s",
            [upto, hour or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)],
        )
        first, last = cursor.fetchone()
        stats = FoldStats(0, {table: 0 for table in GRAINS.values()})
        day = first.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0) if first else None
        while day is not None and day <= last:
            after = day + dt.timedelta(days=1)
            folded = _fold(cursor, "ts >= %s AND ts < %s AND xid < %s", [day, after, upto], max(cutoff, day))
            stats = FoldStats(
                stats.events + folded.events, {t: n + folded.rows.get(t, 0) for t, n in stats.rows.items()}
            )
            day = after
        cursor.execute(
            "UPDATE telemetry_rollup_cursor SET xid = greatest(xid, %s), folded_at = now(), "
            "events_folded = events_folded + %s WHERE id = 1",
            [upto, stats.events],
        )
        return stats


def prune(now: dt.datetime | None = None) -> dict[str, int]:
    """Drop minute rollups past OPSDASH_MINUTE_ROLLUP_DAYS, hour and day rollups past event retention."""
    now = now or dt.datetime.now(dt.UTC)
    deleted = {}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM telemetry_rollup_minute WHERE bucket < %s", [minute_cutoff(now)])
        deleted["telemetry_rollup_minute"] = cursor.rowcount
        cutoff = partitions.retention_cutoff(now).replace(minute=0, second=0, microsecond=0)
        for grain in ("hour", "day"):
            cursor.execute(f"DELETE FROM {GRAINS[grain]} WHERE bucket < %s", [cutoff])
            deleted[GRAINS[grain]] = cursor.rowcount
    return deleted
