"""Dashboards at ten million events.

Loads N events (default 10,000,000) over 30 days for 200 tenants (zipf sizes), 20 routes,
8 models and 50 prompt versions into a scratch database with a bulk loader that writes
the same tables as the ingest path (raw partitions, idempotency keys, model prices),
folding rollups after every chunk as the worker does. Then requests every page with the
7- and 30-day ranges, with and without a tenant filter, 20 times each (in-process Django
test client, logged-in admin), and computes the same answers by aggregating raw events.

Eval results (50,000) and safety flags (one per 100 events) are seeded beside them; their
summaries are kept by the tables' triggers, as in production.

p95 is by nearest rank (the 19th of 20 requests); each page's slowest request is printed
as max_ms beside it. raw_vs_rollup_ratio is the smallest, over /, /latency/ and /cost/ at
7 and 30 days, of (time to compute the page's answers from raw events) / (page p50).

Last line: {"events", "pages": {"<path>?<range>": {"p50_ms", "p95_ms", "max_ms"}},
"worst_p95_ms", "raw_vs_rollup_ratio"}.

    python bench/dashboards.py [--events N] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BENCH_DB = "opsdash_bench_dashboards"
CHUNK = 250_000


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def prepare_database(keep: bool) -> bool:
    """Point Django at a scratch database; True when it already holds the data (--keep)."""
    import psycopg

    from opsdash.lib import embedded_db
    from opsdash.lib.env import parse_database_url

    base = os.environ.get("DATABASE_URL")
    if base:
        url = parse_database_url(base)
        conninfo = {"host": url.host, "port": url.port or None, "user": url.user, "password": url.password}
    else:
        host = embedded_db.ensure_database(Path(os.environ.get("OPSDASH_DATA_DIR", ROOT / ".opsdash")))
        conninfo = {"host": host, "user": "postgres"}
    conninfo = {k: v for k, v in conninfo.items() if v}
    with psycopg.connect(dbname="postgres", autocommit=True, **conninfo) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone()
        if exists and not keep:
            conn.execute(f"DROP DATABASE {BENCH_DB} WITH (FORCE)")
            exists = None
        if not exists:
            conn.execute(f"CREATE DATABASE {BENCH_DB}")
    auth = conninfo.get("user", "postgres") + (f":{conninfo['password']}" if conninfo.get("password") else "")
    if conninfo["host"].startswith("/"):
        url = f"postgresql://{auth}@/{BENCH_DB}?host={conninfo['host']}"
    else:
        url = f"postgresql://{auth}@{conninfo['host']}:{conninfo.get('port', 5432)}/{BENCH_DB}"
    from bench.scratch import setup_django

    setup_django(url, allowed_hosts="testserver,127.0.0.1,localhost")
    return bool(exists)


# --- the fleet ----------------------------------------------------------------------------

MODELS = [  # name, provider, median ms, $/Mtok in, out
    ("gpt-4o", "openai", 900, 2.5, 10), ("gpt-4o-mini", "openai", 450, 0.15, 0.6),
    ("claude-sonnet", "anthropic", 1100, 3, 15), ("claude-haiku", "anthropic", 380, 0.8, 4),
    ("gemini-pro", "google", 1000, 1.25, 5), ("gemini-flash", "google", 300, 0.1, 0.4),
    ("llama-70b", "self", 1400, 0.6, 0.6), ("mistral-large", "mistral", 950, 2, 6),
]  # fmt: skip
ROUTES = [f"/v1/{name}" for name in (
    "chat", "answer", "search", "summarize", "classify", "extract", "translate", "rewrite", "moderate", "embed-q",
    "agent", "plan", "tool-call", "draft", "reply", "title", "tags", "sql", "code", "review")]  # fmt: skip
PROMPTS = [(f"prompt-{i // 5:02d}", f"v{i % 5 + 1}") for i in range(50)]
STATUSES = np.array(["ok", "error", "timeout", "rate_limited", "blocked"])


def make_fleet():  # type: ignore[no-untyped-def]
    from decimal import Decimal

    from opsdash.telemetry.models import ModelPrice
    from opsdash.tenants.models import Tenant

    tenants = [
        Tenant(slug=f"t-{i:03d}", name=f"Tenant {i}", daily_budget_usd=Decimal(500 // (i + 1) + 5),
               monthly_budget_usd=Decimal(12000 // (i + 1) + 100))
        for i in range(200)
    ]  # fmt: skip
    Tenant.objects.bulk_create(tenants)
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    ModelPrice.objects.bulk_create(
        ModelPrice(model=m, provider=p, input_usd_per_mtok=Decimal(str(i)), output_usd_per_mtok=Decimal(str(o)),
                   effective_from=start)
        for m, p, _, i, o in MODELS
    )  # fmt: skip
    return {t.slug: t.pk for t in Tenant.objects.all()}


def generate(rng, n: int, now: dt.datetime, tenant_ids: np.ndarray, offset: int) -> list[str]:  # type: ignore[no-untyped-def]
    """n events as COPY text lines (the raw table's columns, as ingest writes them)."""
    weights = 1 / np.arange(1, len(tenant_ids) + 1) ** 1.1
    tenant = tenant_ids[rng.choice(len(tenant_ids), n, p=weights / weights.sum())]
    # Diurnal: more traffic in the (UTC) afternoon.
    seconds = rng.uniform(0, 30 * 86400, n)
    hour = ((now.timestamp() - seconds) % 86400) / 3600
    keep = rng.random(n) < 0.55 + 0.45 * np.sin((hour - 8) / 24 * 2 * np.pi) ** 2
    seconds = np.where(keep, seconds, rng.uniform(0, 30 * 86400, n))
    ts = now.timestamp() - seconds
    model = rng.integers(0, len(MODELS), n)
    route = rng.integers(0, len(ROUTES), n)
    prompt = (route * 7 + rng.integers(0, 3, n)) % len(PROMPTS)
    median = np.array([m[2] for m in MODELS])[model] * (1 + (route % 4) * 0.25)
    latency = rng.lognormal(np.log(median), 0.6)
    ttft = latency * rng.uniform(0.1, 0.5, n)
    status = STATUSES[np.searchsorted(np.cumsum([0.93, 0.03, 0.02, 0.015, 0.005]), rng.random(n))]
    tokens_in = rng.integers(20, 4000, n)
    tokens_out = rng.integers(5, 1500, n)
    price_in = np.array([m[3] for m in MODELS])[model]
    price_out = np.array([m[4] for m in MODELS])[model]
    cost = (tokens_in * price_in + tokens_out * price_out) / 1_000_000
    cache = rng.random(n) < 0.15
    lines = []
    for i in range(n):
        p = PROMPTS[prompt[i]]
        m = MODELS[model[i]]
        stamp = dt.datetime.fromtimestamp(ts[i], dt.UTC).isoformat()
        lines.append(
            f"{stamp}\t{tenant[i]}\tb{offset + i}\t{ROUTES[route[i]]}\t{m[0]}\t{m[1]}\t{p[0]}\t{p[1]}\t{status[i]}\t"
            f"{latency[i]:.3f}\t{ttft[i]:.3f}\t{tokens_in[i]}\t{tokens_out[i]}\t{cost[i]:.10f}\t"
            f"{'t' if cache[i] else 'f'}\t\\N\t\\N\t\\N\t0\n"
        )
    return lines


def load(n_events: int, fold_each_chunk: bool = True) -> dict[str, float]:
    from django.db import connection, transaction

    from opsdash.telemetry import partitions
    from opsdash.telemetry.rollups import refresh_rollups
    from opsdash.telemetry.services import COPY_COLUMNS

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ids = np.array(sorted(make_fleet().values()))
    partitions.ensure_days((now - dt.timedelta(days=d)).date() for d in range(32))
    rng = np.random.default_rng(42)
    copy_sql = f"COPY telemetry_event ({', '.join(COPY_COLUMNS)}) FROM STDIN"
    started = time.perf_counter()
    fold_seconds = 0.0
    for offset in range(0, n_events, CHUNK):
        size = min(CHUNK, n_events - offset)
        lines = generate(rng, size, now, ids, offset)
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.connection.cursor().copy(copy_sql) as copy:
                copy.write("".join(lines))
            cursor.execute(
                "INSERT INTO telemetry_event_key (tenant_id, event_id, ts) "
                "SELECT tenant_id, event_id, ts FROM telemetry_event WHERE event_id >= %s AND event_id LIKE 'b%%' "
                "AND xid = pg_current_xact_id()::text::bigint",
                ["b"],
            )
        if fold_each_chunk:
            t0 = time.perf_counter()
            while refresh_rollups() == 0:  # wait until this chunk's transaction is below the horizon
                time.sleep(0.05)
            fold_seconds += time.perf_counter() - t0
        log(f"loaded {offset + size:,} events")
    if not fold_each_chunk:
        from opsdash.telemetry.rollups import rebuild

        t0 = time.perf_counter()
        rebuild()
        fold_seconds = time.perf_counter() - t0
        log(f"rollups rebuilt from all raw events in {fold_seconds:.0f} s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"load_s": time.perf_counter() - started, "fold_s": fold_seconds}


# The same fleet drawn by Postgres itself: formatting ten million rows in Python takes
# minutes, generate_series a fraction of that. Same tables, same distributions.
SQL_CHUNK = 1_000_000
SQL_GENERATE = """
WITH n AS (
    SELECT g, random() AS u_when, random() AS u_keep, random() AS u_alt, floor(random() * 8)::int AS m,
        floor(random() * 20)::int AS r, floor(random() * 3)::int AS pv, random() AS u1, random() AS u2,
        random() AS u_status, random() AS u_cache, random() AS u_ttft,
        20 + floor(random() * 3980)::int AS tin, 5 + floor(random() * 1495)::int AS tout,
        (%(tenant_slots)s::bigint[])[1 + floor(random() * %(slot_count)s)::int] AS tenant_id
    FROM generate_series(%(first)s, %(last)s) AS g
), t AS (
    -- Diurnal: more traffic in the (UTC) afternoon, as in generate().
    SELECT n.*, CASE WHEN u_keep < 0.55 + 0.45 * sin(
            (mod((extract(epoch FROM %(now)s::timestamptz) - u_when * 2592000)::numeric, 86400) / 3600 - 8)
            / 24 * 2 * pi()) ^ 2
        THEN u_when ELSE u_alt END * 2592000 AS secs,
        (%(medians)s::float8[])[m + 1] * (1 + (r %% 4) * 0.25)
            * exp(0.6 * sqrt(-2 * ln(1 - u1)) * cos(2 * pi() * u2)) AS latency
    FROM n
)
INSERT INTO telemetry_event (ts, tenant_id, event_id, route, model, provider, prompt_id, prompt_version, status,
    latency_ms, ttft_ms, input_tokens, output_tokens, cost_usd, cache_hit, safety_count)
SELECT %(now)s::timestamptz - make_interval(secs => secs), tenant_id, 'b' || g, (%(routes)s::text[])[r + 1],
    (%(models)s::text[])[m + 1], (%(providers)s::text[])[m + 1],
    'prompt-' || lpad((((r * 7 + pv) %% 50) / 5)::text, 2, '0'),
    'v' || (((r * 7 + pv) %% 50) %% 5 + 1),
    CASE WHEN u_status < 0.93 THEN 'ok' WHEN u_status < 0.96 THEN 'error' WHEN u_status < 0.98 THEN 'timeout'
         WHEN u_status < 0.995 THEN 'rate_limited' ELSE 'blocked' END,
    round(latency::numeric, 3), round((latency * (0.1 + 0.4 * u_ttft))::numeric, 3), tin, tout,
    round(((tin * (%(price_in)s::float8[])[m + 1] + tout * (%(price_out)s::float8[])[m + 1]) / 1000000)::numeric, 10),
    u_cache < 0.15, 0
FROM t
"""


def load_sql(n_events: int) -> dict[str, float]:
    """COPY-free bulk load: every event drawn in SQL, keys written beside, rollups rebuilt once."""
    from django.db import connection, transaction

    from opsdash.telemetry import partitions
    from opsdash.telemetry.rollups import rebuild

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ids = np.array(sorted(make_fleet().values()))
    partitions.ensure_days((now - dt.timedelta(days=d)).date() for d in range(32))
    weights = 1 / np.arange(1, len(ids) + 1) ** 1.1
    slots = np.repeat(ids, np.maximum(1, np.round(weights / weights.sum() * 20_000)).astype(int))
    params = {
        "tenant_slots": [int(x) for x in slots], "slot_count": len(slots), "now": now,
        "medians": [float(m[2]) for m in MODELS], "routes": ROUTES, "models": [m[0] for m in MODELS],
        "providers": [m[1] for m in MODELS], "price_in": [float(m[3]) for m in MODELS],
        "price_out": [float(m[4]) for m in MODELS],
    }  # fmt: skip
    started = time.perf_counter()
    for first in range(0, n_events, SQL_CHUNK):
        last = min(n_events, first + SQL_CHUNK) - 1
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(SQL_GENERATE, {**params, "first": first, "last": last})
            cursor.execute(
                "INSERT INTO telemetry_event_key (tenant_id, event_id, ts) SELECT tenant_id, event_id, ts "
                "FROM telemetry_event WHERE xid = pg_current_xact_id()::text::bigint"
            )
        log(f"loaded {last + 1:,} events")
    load_s = time.perf_counter() - started
    t0 = time.perf_counter()
    rebuild()
    fold_s = time.perf_counter() - t0
    log(f"rollups rebuilt from all raw events in {fold_s:.0f} s")
    return {"load_s": load_s, "fold_s": fold_s}


def seed_evals_and_flags() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO evals_evalresult (run_id, ts, suite, prompt_id, prompt_version, model, model_hash, case_id,
                                          metric, passed, score, threshold, language, detail, created_at)
            SELECT 'run-' || p || '-' || v || '-' || r, now() - (r || ' days')::interval, 'golden', 'prompt-' || p,
                   'v' || v, 'gpt-4o', '', 'case-' || c, m, random() > 0.05 * v, random(), 0.7, 'en', '', now()
            FROM generate_series(0, 9) p, generate_series(1, 5) v, generate_series(0, 9) r,
                 generate_series(0, 49) c, unnest(ARRAY['exact', 'grounded']) m
        """)
        cursor.execute("""
            INSERT INTO safety_safetyflag (tenant_id, ts, event_id, conversation_id, route, kind, severity, excerpt)
            SELECT tenant_id, ts, event_id, '', route,
                   (ARRAY['jailbreak','prompt_injection','pii','toxicity'])[1 + (id % 4)],
                   (ARRAY['low','medium','high','critical'])[1 + (id % 4)], 'redacted excerpt'
            FROM telemetry_event WHERE id % 100 = 0
        """)


# --- measuring ----------------------------------------------------------------------------

PAGES = ["/", "/latency/", "/cost/", "/evals/", "/safety/", "/tenants/"]


def time_pages(repeat: int) -> dict[str, dict[str, float]]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from opsdash.accounts.models import RoleAssignment

    user, created = get_user_model().objects.get_or_create(username="bench-admin")
    if created:
        RoleAssignment.objects.create(user=user, role="admin")
    client = Client()
    client.force_login(user)
    # One untimed request per page first: a fresh process compiles templates and loads
    # plotly's template on its first request, which is start-up, not page speed.
    for path in PAGES:
        client.get(f"{path}?range=24h")
    results = {}
    for path in PAGES:
        for range_ in ("7d", "30d"):
            for tenant in ("", "t-000"):
                if path == "/tenants/" and tenant:
                    continue
                query = f"range={range_}" + (f"&tenant={tenant}" if tenant else "")
                url = f"{path}?{query}"
                times = []
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    response = client.get(url)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200, (url, response.status_code)
                times.sort()
                results[url] = {
                    "p50_ms": round(statistics.median(times), 1),
                    # Nearest rank: the 19th of 20.
                    "p95_ms": round(times[math.ceil(0.95 * len(times)) - 1], 1),
                    "max_ms": round(times[-1], 1),
                }
                log(
                    f"{url}: p50 {results[url]['p50_ms']} ms, p95 {results[url]['p95_ms']} ms, "
                    f"max {results[url]['max_ms']} ms"
                )
    return results


RAW = {
    # The same answers as the pages, computed from raw events.
    "/latency/": """SELECT date_trunc('hour', ts), opsdash_hist_bucket(latency_ms), count(*) FROM telemetry_event
                    WHERE ts >= now() - %(span)s::interval GROUP BY 1, 2""",
    "/latency/ percentiles": """SELECT route, percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency_ms)
                    FROM telemetry_event WHERE ts >= now() - %(span)s::interval GROUP BY 1""",
    "/cost/": """SELECT tenant_id, date_trunc('day', ts), sum(cost_usd), count(*), sum(input_tokens), sum(output_tokens)
                 FROM telemetry_event WHERE ts >= now() - %(span)s::interval GROUP BY 1, 2""",
    "/": """SELECT count(*), count(*) FILTER (WHERE status IN ('error', 'timeout')), sum(cost_usd),
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)
            FROM telemetry_event WHERE ts >= now() - %(span)s::interval""",
}


def time_raw(repeat: int = 3) -> dict[str, float]:
    from django.db import connection

    out = {}
    for name, sql in RAW.items():
        for span in ("7 days", "30 days"):
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                with connection.cursor() as cursor:
                    cursor.execute(sql, {"span": span})
                    cursor.fetchall()
                times.append((time.perf_counter() - t0) * 1000)
            out[f"{name} {span}"] = round(statistics.median(times), 1)
            log(f"raw {name} {span}: {out[f'{name} {span}']} ms")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="reuse the loaded scratch database if present")
    parser.add_argument(
        "--loader",
        choices=["sql", "copy"],
        default="sql",
        help="sql: events drawn by Postgres, rollups rebuilt once (fast); copy: COPY from Python in chunks",
    )
    parser.add_argument(
        "--fold-at-end",
        action="store_true",
        help="COPY everything, then build the rollups in one rebuild (faster than folding chunk by chunk)",
    )
    args = parser.parse_args()

    loaded = prepare_database(args.keep)
    from django.db import DatabaseError, connection

    figures: dict[str, object] = {}
    if not loaded:
        log(f"loading {args.events:,} events into {BENCH_DB}")
        if args.loader == "sql":
            figures.update(load_sql(args.events))
        else:
            figures.update(load(args.events, fold_each_chunk=not args.fold_at_end))
        seed_evals_and_flags()
        with connection.cursor() as cursor:
            # As autovacuum leaves a loaded database, before anything is timed: statistics,
            # and the visibility map that lets reads of settled rollup rows (past days) stay
            # in their indexes. Otherwise autovacuum works through the fresh rows while
            # pages are timed (seen: one page's p95 at 499 ms against a p50 of 116 ms).
            cursor.execute("VACUUM ANALYZE")
    with connection.cursor() as cursor:
        # Write back what loading left dirty now, not while pages are timed: a checkpoint
        # spread over the timing doubled some pages' p95 (seen at 324 ms against 73 ms).
        try:
            cursor.execute("CHECKPOINT")
        except DatabaseError as exc:  # not superuser, nor pg_checkpoint
            log(f"no CHECKPOINT before timing ({exc}); a checkpoint during it slows the pages it overlaps")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM telemetry_event")
        events = cursor.fetchone()[0]
        cursor.execute("SELECT 'minute', count(*) FROM telemetry_rollup_minute UNION ALL "
                       "SELECT 'hour', count(*) FROM telemetry_rollup_hour UNION ALL "
                       "SELECT 'day', count(*) FROM telemetry_rollup_day")  # fmt: skip
        rollup_rows = dict(cursor.fetchall())
    log(f"{events:,} events; rollup rows {rollup_rows}")
    pages = time_pages(args.repeat)
    raw = time_raw()
    # Ratio per page and range (no tenant filter): raw aggregation time / page time.
    ratios = {}
    for span, label in (("7 days", "7d"), ("30 days", "30d")):
        ratios[f"/latency/ {label}"] = (raw[f"/latency/ {span}"] + raw[f"/latency/ percentiles {span}"]) / pages[
            f"/latency/?range={label}"
        ]["p50_ms"]
        ratios[f"/cost/ {label}"] = raw[f"/cost/ {span}"] / pages[f"/cost/?range={label}"]["p50_ms"]
        ratios[f"/ {label}"] = raw[f"/ {span}"] / pages[f"/?range={label}"]["p50_ms"]
    log("raw/rollup ratios: " + ", ".join(f"{k} {v:.1f}" for k, v in ratios.items()))
    print(json.dumps({
        **{k: round(v, 1) for k, v in figures.items() if isinstance(v, float)},
        "rollup_rows": rollup_rows,
        "raw_ms": raw,
        "events": events,
        "pages": pages,
        "worst_p95_ms": max(p["p95_ms"] for p in pages.values()),
        "raw_vs_rollup_ratio": round(min(ratios.values()), 1),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
