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

The aggregation is SQL over the new rows only: one pass groups them at the finest level
(tenant, route, model, prompt, minute) with their histogram buckets, then each grain
expands those partial rows into every grouping with a LATERAL VALUES list and upserts,
merging histograms with ``opsdash_hist_merge_*``. An advisory lock keeps a second folder
out instead of making it wait.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

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

GRAINS = {"minute": "telemetry_rollup_minute", "hour": "telemetry_rollup_hour"}

# A tenant crossed with a route, model or prompt has so many combinations that at the
# table's own grain nearly every event would get a row of its own. These groupings are
# kept one step coarser: per hour in the minute table, per day in the hour table.
COARSE_GROUPINGS = frozenset({TENANT_ROUTE, TENANT_MODEL, TENANT_PROMPT})
COARSER = {"minute": "hour", "hour": "day"}


def bucket_width(grain: str, grouping: int) -> dt.timedelta:
    """How much time one row of ``grouping`` covers in the ``grain`` table."""
    unit = COARSER[grain] if grouping in COARSE_GROUPINGS else grain
    return {"minute": dt.timedelta(minutes=1), "hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1)}[unit]


def bucket_sql(grain: str) -> str:
    """The bucket of a folded row (by minute) in the ``grain`` table."""
    coarse = ", ".join(str(g) for g in sorted(COARSE_GROUPINGS))
    fine = "bucket" if grain == "minute" else f"date_trunc('{grain}', bucket, 'UTC')"
    return f"CASE WHEN grouping IN ({coarse}) THEN date_trunc('{COARSER[grain]}', bucket, 'UTC') ELSE {fine} END"


KEY_COLUMNS = ("grouping", "tenant_id", "bucket", "route", "model", "prompt_id", "prompt_version")
TEXT_KEYS = ("route", "model", "prompt_id", "prompt_version")
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


def _grouping_values() -> str:
    """The LATERAL VALUES rows that copy one partial row into every grouping."""
    rows = []
    for number, dims in GROUPINGS.items():
        tenant = "b.tenant_id" if "tenant" in dims else "0::bigint"
        route = "b.route" if "route" in dims else "''"
        model = "b.model" if "model" in dims else "''"
        prompt = ("b.prompt_id", "b.prompt_version") if "prompt" in dims else ("''", "''")
        rows.append(f"({number}::smallint, {tenant}, {route}, {model}, {prompt[0]}, {prompt[1]})")
    return ",\n        ".join(rows)


def _base_sql(where: str) -> str:
    """Partial aggregates of the selected raw events at the finest level, in one scan.

    kind 0 rows carry the sums; kind 1 and 2 rows carry (bucket, count) of the latency
    and time-to-first-token histograms in ``requests`` and NULL sums (narrow rows).
    """
    sums = ",\n    ".join(
        f"{agg} AS {name}" if name == "requests" else f"CASE WHEN grouping(lb, tb) = 3 THEN {agg} END AS {name}"
        for name, agg in SUMS
    )
    return f"""
CREATE TEMP TABLE rollup_fold_base ON COMMIT DROP AS
SELECT tenant_id, route, model, prompt_id, prompt_version, minute,
    CASE grouping(lb, tb) WHEN 3 THEN 0 WHEN 1 THEN 1 ELSE 2 END AS kind,
    coalesce(lb, tb) AS hb,
    {sums}
FROM (
    SELECT tenant_id, route, model, coalesce(prompt_id, '') AS prompt_id,
        coalesce(prompt_version, '') AS prompt_version, date_trunc('minute', ts, 'UTC') AS minute,
        status, cache_hit, input_tokens, output_tokens, cost_usd, latency_ms, safety_count,
        opsdash_hist_bucket(latency_ms) AS lb, opsdash_hist_bucket(ttft_ms) AS tb
    FROM telemetry_event
    WHERE {where}
) e
GROUP BY GROUPING SETS (
    (tenant_id, route, model, prompt_id, prompt_version, minute),
    (tenant_id, route, model, prompt_id, prompt_version, minute, lb),
    (tenant_id, route, model, prompt_id, prompt_version, minute, tb)
)
"""


# Sums that are counts: re-summed as integer they aggregate with a machine-word state
# rather than numeric, which matters over millions of partial rows.
COUNTS = frozenset(
    {"requests", "ok", "errors", "timeouts", "rate_limited", "blocked", "cache_hits", "cost_unknown", "safety_flags"}
)


def _resum(column: str, source: str = "") -> str:
    name = f"{source}{column}"
    return f"sum({name}::integer) AS {column}" if column in COUNTS else f"sum({name}) AS {column}"


def _expand_sqls() -> tuple[str, str]:
    """Every grouping of every partial row, per minute: the sums in one narrow table, the
    histogram cells (key, kind, bucket, count) in another, so the big aggregation of
    cells carries one integer per row instead of thirteen accumulators."""
    keys = ", ".join(KEY_COLUMNS)
    sum_cols = [name for name, _ in SUMS]
    # Byte order for the text keys: later steps group and join on them, and a locale's
    # comparison costs several times more than memcmp.
    collated = ", ".join(f'{c} COLLATE "C" AS {c}' if c in TEXT_KEYS else c for c in KEY_COLUMNS)
    expanded = f"""
    FROM rollup_fold_base b
    CROSS JOIN LATERAL (VALUES
        {_grouping_values()}
    ) AS g(grouping, tenant_id, route, model, prompt_id, prompt_version)"""
    picked = "g.grouping, g.tenant_id, b.minute AS bucket, g.route, g.model, g.prompt_id, g.prompt_version"
    sums = f"""
CREATE TEMP TABLE rollup_fold_sums ON COMMIT DROP AS
SELECT {collated}, {", ".join(_resum(c) for c in sum_cols)}
FROM (
    SELECT {picked}, {", ".join(f"b.{c}" for c in sum_cols)}{expanded}
    WHERE b.kind = 0
) x
GROUP BY {keys}
"""
    cells = f"""
CREATE TEMP TABLE rollup_fold_cells ON COMMIT DROP AS
SELECT {collated}, kind, hb, sum(n)::integer AS n
FROM (
    SELECT {picked}, b.kind, b.hb, b.requests::integer AS n{expanded}
    WHERE b.kind > 0 AND b.hb IS NOT NULL
) x
GROUP BY {keys}, kind, hb
"""
    return sums, cells


def _upsert_sql(grain: str, table: str, since_clause: str = "") -> str:
    """Upsert one grain: each key's sums beside its histograms as sorted arrays.

    The cells of a key are gathered unordered by a hash aggregate and each array is
    sorted on its own afterwards: sorting a few dozen pairs per row is far cheaper than
    sorting every cell by (key, bucket).
    """
    keys = ", ".join(KEY_COLUMNS)
    sum_cols = [name for name, _ in SUMS]
    gathered = []
    finished = [f"s.{name}" for name in sum_cols]
    hist_cols = []
    for kind, h in enumerate(HISTOGRAMS, start=1):
        hist_cols += [f"{h}_hist_idx", f"{h}_hist_cnt"]
        gathered.append(f"array_agg(hb) FILTER (WHERE kind = {kind}) AS {h}_i")
        gathered.append(f"array_agg(n) FILTER (WHERE kind = {kind}) AS {h}_c")
        finished.append(f"coalesce((SELECT array_agg(i ORDER BY i) FROM unnest(c.{h}_i) AS i), '{{}}')")
        finished.append(f"coalesce((SELECT array_agg(n ORDER BY i) FROM unnest(c.{h}_i, c.{h}_c) AS p(i, n)), '{{}}')")
    other = ", ".join(c for c in KEY_COLUMNS if c != "bucket")
    bucket = bucket_sql(grain)
    sums = f"""(
    SELECT {other}, {bucket} AS bucket, {", ".join(_resum(c) if c in COUNTS else f"sum({c}) AS {c}" for c in sum_cols)}
    FROM rollup_fold_sums WHERE true {since_clause} GROUP BY {other}, {bucket}
)"""
    cells = f"""(
    SELECT {other}, {bucket} AS bucket, kind, hb, sum(n)::integer AS n
    FROM rollup_fold_cells WHERE true {since_clause} GROUP BY {other}, {bucket}, kind, hb
)"""
    updates = [f"{name} = r.{name} + excluded.{name}" for name in sum_cols]
    for h in HISTOGRAMS:
        updates.append(f"{h}_hist_idx = opsdash_hist_merge_idx(r.{h}_hist_idx, excluded.{h}_hist_idx)")
        updates.append(
            f"{h}_hist_cnt = opsdash_hist_merge_cnt(r.{h}_hist_idx, r.{h}_hist_cnt, "
            f"excluded.{h}_hist_idx, excluded.{h}_hist_cnt)"
        )
    gathered_sql = ",\n        ".join(gathered)
    finished_sql = ",\n    ".join(finished)
    update_sql = ",\n    ".join(updates)
    return f"""
INSERT INTO {table} AS r ({keys}, {", ".join(sum_cols)}, {", ".join(hist_cols)})
SELECT {", ".join(f"s.{k}" for k in KEY_COLUMNS)},
    {finished_sql}
FROM {sums} s
LEFT JOIN (
    SELECT {keys},
        {gathered_sql}
    FROM {cells} c0
    GROUP BY {keys}
) c USING ({keys})
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
    # One folder at a time, hashing up to a few million partial rows: keep them in memory.
    # Every aggregation here is cheaper hashed than sorted (the sorts would compare text
    # keys), which the planner underrates.
    cursor.execute("SELECT current_setting('work_mem'), current_setting('enable_sort')")
    saved = cursor.fetchone()
    cursor.execute("SET LOCAL work_mem = '256MB'")
    cursor.execute("SET LOCAL enable_sort = off")
    cursor.execute(_base_sql(where), params)
    cursor.execute("SELECT coalesce(sum(requests), 0) FROM rollup_fold_base WHERE kind = 0")
    events = int(cursor.fetchone()[0])
    rows = {}
    if events:
        # Temporary tables get no statistics otherwise, and the planner needs the sizes.
        cursor.execute("ANALYZE rollup_fold_base")
        for sql in _expand_sqls():
            cursor.execute(sql)
        cursor.execute("ANALYZE rollup_fold_sums")
        cursor.execute("ANALYZE rollup_fold_cells")
        for grain, table in GRAINS.items():
            clause = ""
            upsert_params: list[object] = []
            if grain == "minute" and minute_since is not None:
                clause = "AND bucket >= %s"
                upsert_params = [minute_since, minute_since]
            cursor.execute(_upsert_sql(grain, table, clause), upsert_params)
            rows[table] = cursor.rowcount
        cursor.execute("DROP TABLE rollup_fold_sums, rollup_fold_cells")
    cursor.execute("DROP TABLE rollup_fold_base")
    # Put them back for the rest of a caller's transaction (SET LOCAL lasts until its end).
    cursor.execute("SELECT set_config('work_mem', %s, true), set_config('enable_sort', %s, true)", list(saved))
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
        if hour is None:
            stats = _fold(cursor, "xid < %s", [upto], cutoff)
        else:
            stats = _fold(cursor, "ts >= %s AND xid < %s", [hour, upto], max(cutoff, hour))
        cursor.execute(
            "UPDATE telemetry_rollup_cursor SET xid = greatest(xid, %s), folded_at = now() WHERE id = 1",
            [upto],
        )
        return stats


def prune(now: dt.datetime | None = None) -> dict[str, int]:
    """Drop minute rollups past OPSDASH_MINUTE_ROLLUP_DAYS and hour rollups past event retention."""
    from opsdash.telemetry.partitions import retention_cutoff

    now = now or dt.datetime.now(dt.UTC)
    deleted = {}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM telemetry_rollup_minute WHERE bucket < %s", [minute_cutoff(now)])
        deleted["telemetry_rollup_minute"] = cursor.rowcount
        cutoff = retention_cutoff(now).replace(minute=0, second=0, microsecond=0)
        cursor.execute("DELETE FROM telemetry_rollup_hour WHERE bucket < %s", [cutoff])
        deleted["telemetry_rollup_hour"] = cursor.rowcount
    return deleted
