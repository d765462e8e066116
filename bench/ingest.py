"""Ingest throughput over HTTP against a raw COPY baseline.

Starts opsdash as in production (gunicorn on 127.0.0.1, a free port) on a scratch
database ``opsdash_bench`` (created and migrated here) of the embedded server, or of the
server DATABASE_URL names. Creates 200 tenants and an ingest token, builds N events in
1,000-event JSON bodies before timing, and posts them from concurrent client processes.
Then loads the same rows with one binary COPY into a scratch table of the same shape
(partitioned by day, same indexes), folds the rollups, and prints as its last line:

    {"events": N, "events_per_s": X, "copy_rows_per_s": Y, "ratio": X/Y, "p95_batch_ms": Z, ...}

Options: --events N (default 1,000,000), --clients, --workers, --worker-class,
--gzip (compressed bodies), --profile (py-spy on one worker; summary on stderr).
Only loopback is used; every loop is bounded by the number of batches and a timeout.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import gzip
import http.client
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from scratch import base_url, log, recreate_database  # noqa: E402

PYTHON = sys.executable
BENCH_DB = "opsdash_bench"
BATCH = 1000
TENANTS = 200
ROUTES = [f"/api/{name}" for name in ("chat", "search", "summarise", "classify", "extract")] + [
    f"/api/tool/{n}" for n in range(15)
]
MODELS = [
    "gpt-4o",
    "gpt-4o-mini",
    "claude-sonnet",
    "claude-haiku",
    "llama-3-70b",
    "mistral-large",
    "gemini-pro",
    "qwen-72b",
]
STATUSES = ["ok"] * 92 + ["error"] * 4 + ["timeout"] * 2 + ["rate_limited"] + ["blocked"]


def server_env(db_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=db_url,
        DJANGO_SETTINGS_MODULE="opsdash.settings",
        OPSDASH_SECRET_KEY=env.get("OPSDASH_SECRET_KEY", "bench-" + "k" * 40),
        OPSDASH_AUDIT_KEY=env.get("OPSDASH_AUDIT_KEY", "bench-audit-" + "k" * 40),
        OPSDASH_DEBUG="0",
        OPSDASH_HTTPS="0",
        OPSDASH_STATIC_FROM_FINDERS="1",
        OPSDASH_ALLOWED_HOSTS="127.0.0.1,localhost",
        OPSDASH_LOG_LEVEL="WARNING",
        OPSDASH_DB_CONN_MAX_AGE="600",
    )
    return env


def setup_app(env: dict[str, str]) -> str:
    """Migrate, create tenants and an ingest token; returns the token's secret."""
    subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    script = f"""
from opsdash.accounts.services import create_token
from opsdash.tenants.models import Tenant
Tenant.objects.bulk_create([Tenant(slug=f"t{{n:03d}}", name=f"Tenant {{n}}") for n in range({TENANTS})])
print(create_token(acting_user=None, kind="ingest", name="bench")[1])
"""
    out = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip().splitlines()[-1]


# --- Events -----------------------------------------------------------------------------------


def make_events(total: int, seed: int = 7) -> list[dict[str, object]]:
    """Traffic shaped like a real fleet: zipf-like tenants, each calling a few routes with
    one or two models and a few prompts; log-normal latency; spread over the last 50 min."""
    rng = np.random.default_rng(seed)
    profiles = np.random.default_rng(1)  # the same tenants every run
    tenant_routes = [profiles.choice(len(ROUTES), size=profiles.integers(2, 5), replace=False) for _ in range(TENANTS)]
    tenant_models = [profiles.choice(len(MODELS), size=profiles.integers(1, 3), replace=False) for _ in range(TENANTS)]
    tenant_prompts = [profiles.choice(30, size=profiles.integers(1, 4), replace=False) for _ in range(TENANTS)]
    now = dt.datetime.now(dt.UTC)
    weights = 1.0 / np.arange(1, TENANTS + 1) ** 1.1
    tenants = rng.choice(TENANTS, size=total, p=weights / weights.sum())
    picks = rng.integers(0, 1 << 30, size=(total, 3))
    statuses = rng.integers(0, len(STATUSES), total)
    latency = np.minimum(rng.lognormal(6.2, 0.7, total), 3_600_000.0).round(2)
    ttft = (latency * rng.uniform(0.05, 0.6, total)).round(2)
    tokens_in = rng.integers(20, 8000, total)
    tokens_out = rng.integers(1, 2000, total)
    ages = rng.uniform(1, 3000, total)
    events = []
    for i in range(total):
        t = int(tenants[i])
        routes, models, prompts = tenant_routes[t], tenant_models[t], tenant_prompts[t]
        prompt = int(prompts[picks[i, 2] % len(prompts)])
        event = {
            "event_id": f"bench-{seed}-{i}",
            "ts": (now - dt.timedelta(seconds=float(ages[i]))).isoformat(timespec="milliseconds"),
            "tenant": f"t{t:03d}",
            "route": ROUTES[routes[picks[i, 0] % len(routes)]],
            "model": MODELS[models[picks[i, 1] % len(models)]],
            "provider": "openai",
            "prompt_id": f"prompt-{prompt}",
            "prompt_version": f"v{prompt % 4 + 1}",
            "status": STATUSES[statuses[i]],
            "latency_ms": float(latency[i]),
            "ttft_ms": float(ttft[i]),
            "input_tokens": int(tokens_in[i]),
            "output_tokens": int(tokens_out[i]),
            "cost_usd": round(float(tokens_in[i]) * 2.5e-6 + float(tokens_out[i]) * 1e-5, 6),
            "cache_hit": bool(i % 7 == 0),
            "trace_id": f"{i:032x}",
        }
        events.append(event)
    return events


# --- Server -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict[str, str], port: int, workers: int, worker_class: str, threads: int) -> subprocess.Popen:
    cmd = [
        PYTHON, "-m", "gunicorn", "opsdash.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", worker_class,
        "--timeout", "120", "--log-level", "warning",
    ]  # fmt: skip
    if worker_class == "gthread":
        cmd += ["--threads", str(threads)]
    server = subprocess.Popen(cmd, cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status in (200, 503):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not answer /healthz within 60 s")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    pidfile = Path(os.environ.get("OPSDASH_DATA_DIR", ROOT / ".opsdash")) / "pg" / "postmaster.pid"
    if os.environ.get("DATABASE_URL") or not pidfile.exists():
        return []
    postmaster = int(pidfile.read_text().split()[0])
    return [postmaster, *children(postmaster)]


# --- Clients ----------------------------------------------------------------------------------


def client(port: int, secret: str, bodies: list[bytes], gzipped: bool, out: mp.Queue) -> None:
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    timings, accepted, failures = [], 0, collections.Counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for body in bodies:  # bounded: one request per prepared body
        started = time.perf_counter()
        try:
            conn.request("POST", "/api/v1/events", body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            failures[type(exc).__name__] += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            continue
        timings.append(time.perf_counter() - started)
        if response.status == 200:
            accepted += orjson.loads(payload)["accepted"]
        else:
            failures[f"HTTP {response.status}"] += 1
        if response.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    out.put((timings, accepted, dict(failures)))


def run_clients(
    port: int, secret: str, bodies: list[bytes], clients: int, gzipped: bool
) -> tuple[float, list[float], int, dict]:
    queue: mp.Queue = mp.Queue()
    shares = [bodies[n::clients] for n in range(clients)]
    procs = [mp.Process(target=client, args=(port, secret, share, gzipped, queue)) for share in shares]
    started = time.perf_counter()
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=3600) for _ in procs]
    elapsed = time.perf_counter() - started
    for proc in procs:
        proc.join(timeout=30)
    timings = [t for r in results for t in r[0]]
    failures: collections.Counter = collections.Counter()
    for r in results:
        failures.update(r[2])
    return elapsed, timings, sum(r[1] for r in results), dict(failures)


# --- COPY baseline ----------------------------------------------------------------------------


def copy_baseline(db_url: str, events: list[dict[str, object]]) -> float:
    """Rows/s of one binary COPY of the same rows into a table shaped like telemetry_event."""
    import importlib
    from decimal import Decimal

    import psycopg

    from opsdash.telemetry.services import COPY_COLUMNS, COPY_TYPES

    migration = importlib.import_module("opsdash.telemetry.migrations.0002_events_rollups_prices")
    ddl = migration.EVENT_SQL.replace("telemetry_event", "bench_copy_event")

    with psycopg.connect(db_url) as conn:
        conn.execute(ddl)
        tenant_ids = dict(conn.execute("SELECT slug, id FROM tenants_tenant").fetchall())
        days = {dt.datetime.fromisoformat(str(e["ts"])).astimezone(dt.UTC).date() for e in events}
        for day in days:
            start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
            end = start + dt.timedelta(days=1)
            conn.execute(
                f"CREATE TABLE bench_copy_event_p{day:%Y%m%d} PARTITION OF bench_copy_event "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
        conn.commit()
        rows = [
            (
                dt.datetime.fromisoformat(str(e["ts"])),
                tenant_ids[e["tenant"]],
                e["event_id"],
                e["route"],
                e["model"],
                e["provider"],
                e["prompt_id"],
                e["prompt_version"],
                e["status"],
                e["latency_ms"],
                e["ttft_ms"],
                e["input_tokens"],
                e["output_tokens"],
                Decimal(repr(e["cost_usd"])),
                e["cache_hit"],
                None,
                e["trace_id"],
                None,
                0,
            )
            for e in events
        ]
        started = time.perf_counter()
        sql = f"COPY bench_copy_event ({', '.join(COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
        with conn.cursor() as cur, cur.copy(sql) as copy:
            copy.set_types(COPY_TYPES)
            for row in rows:
                copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_copy_event, bench_copy_event_key")
        conn.commit()
    return len(rows) / elapsed


# --- Profile ----------------------------------------------------------------------------------


def start_profile(pid: int, seconds: int, path: str) -> subprocess.Popen | None:
    spy = Path(PYTHON).with_name("py-spy")
    if not spy.exists():
        log("py-spy is not installed (pip install py-spy); no profile")
        return None
    return subprocess.Popen(
        [str(spy), "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200",
         "--format", "raw", "--output", path, "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def summarise_profile(path: str, top: int = 25) -> None:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    own: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].replace(str(ROOT) + "/", "") + ")"
            if " (" in f
            else f
            for f in stack.split(";")
        ]
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    if not total:
        log("profile: no samples")
        return
    log(f"\nprofile of one gunicorn worker: {total} samples")
    log("  self %   function")
    for frame, n in own.most_common(top):
        log(f"  {100 * n / total:5.1f}   {frame}")
    log("  incl %   function (opsdash code)")
    for frame, n in inclusive.most_common():
        if "opsdash/" in frame or "django/core/handlers" in frame or "idle" in frame:
            log(f"  {100 * n / total:5.1f}   {frame}")


# --- Main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    total = max(BATCH, args.events // BATCH * BATCH)

    db_url = recreate_database(base_url(), BENCH_DB)
    env = server_env(db_url)
    log(f"database {BENCH_DB}: migrating, creating {TENANTS} tenants and a token")
    secret = setup_app(env)
    log(f"building {total:,} events in {total // BATCH:,} bodies")
    events = make_events(total)
    bodies = [orjson.dumps({"events": events[i : i + BATCH]}) for i in range(0, total, BATCH)]
    if args.gzip:
        bodies = [gzip.compress(b, compresslevel=1) for b in bodies]
    log(f"bodies: {sum(map(len, bodies)) / 1e6:.0f} MB; starting gunicorn ({args.workers} {args.worker_class} workers)")

    port = free_port()
    server = start_server(env, port, args.workers, args.worker_class, args.threads)
    profile = None
    try:
        # Warm every worker (imports, connections) on 1 % of the load outside the timing.
        warm_events = make_events(args.workers * 4 * 100, seed=8)
        warm = [orjson.dumps({"events": warm_events[i : i + 100]}) for i in range(0, len(warm_events), 100)]
        run_clients(port, secret, warm, args.workers, False)

        workers = children(server.pid)
        pg = postgres_pids()
        cpu_before = (cpu_seconds(workers), cpu_seconds(pg))
        if args.profile and workers:
            profile_path = tempfile.mktemp(suffix=".txt", prefix="opsdash-ingest-profile-")  # noqa: S306
            profile = (start_profile(workers[0], 30, profile_path), profile_path)
        log(f"posting from {args.clients} client processes")
        elapsed, timings, accepted, failures = run_clients(port, secret, bodies, args.clients, args.gzip)
        cpu_after = (cpu_seconds(workers), cpu_seconds(pg))
    finally:
        server.terminate()
        server.wait(timeout=30)
    if profile and profile[0]:
        profile[0].wait(timeout=120)
        summarise_profile(profile[1])

    events_per_s = accepted / elapsed
    p95 = float(np.percentile(np.array(timings) * 1000, 95)) if timings else float("nan")
    log(f"HTTP: {accepted:,} accepted in {elapsed:.1f}s = {events_per_s:,.0f} events/s; p95 batch {p95:.0f} ms")
    if failures:
        log(f"failures: {failures}")
    web_cpu, pg_cpu = cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1]
    log(f"CPU during the run: gunicorn workers {web_cpu:.1f}s, postgres {pg_cpu:.1f}s, wall {elapsed:.1f}s")

    log("COPY baseline")
    copy_rate = copy_baseline(db_url, events)
    log(f"COPY: {copy_rate:,.0f} rows/s")

    log("folding the rollups")
    fold = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", FOLD_SCRIPT], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    fold_stats = json.loads(fold.stdout.strip().splitlines()[-1])
    log(f"fold: {fold_stats}")

    print(
        json.dumps(
            {
                "events": total,
                "events_per_s": round(events_per_s),
                "copy_rows_per_s": round(copy_rate),
                "ratio": round(events_per_s / copy_rate, 3),
                "p95_batch_ms": round(p95, 1),
                "accepted": accepted,
                "failed_requests": sum(failures.values()),
                "clients": args.clients,
                "workers": f"{args.workers} {args.worker_class}",
                "cpu_s_web": round(web_cpu, 1),
                "cpu_s_postgres": round(pg_cpu, 1),
                **fold_stats,
            }
        )
    )


FOLD_SCRIPT = """
import json, time
from django.db import connection
from opsdash.telemetry import rollups
started = time.perf_counter()
folded = rollups.refresh_rollups()
took = time.perf_counter() - started
counts = {}
with connection.cursor() as cursor:
    for table in ("telemetry_event", "telemetry_rollup_minute", "telemetry_rollup_hour"):
        cursor.execute(f"SELECT count(*) FROM {table}")
        counts["rows_" + table.removeprefix("telemetry_")] = cursor.fetchone()[0]
print(json.dumps({"fold_events": folded, "fold_s": round(took, 2), **counts}))
"""


if __name__ == "__main__":
    main()
