"""Actions under load: purge 1M messages while another tenant ingests, re-embed 100k
documents, and the delay from a click to a worker starting the run.

Runs on a scratch database ``opsdash_bench_actions`` (created and migrated here) of the
embedded server, or of the server DATABASE_URL names, with a real ``celery worker``
process on the default broker of a private data folder (its own embedded Redis). Ingest for the other tenant runs in a
second process through ``opsdash.ingest.events.ingest_events`` (100 events with a
conversation message each, 10 batches a second); when that function is not available
it falls back to COPY of 100 messages per batch, and says so. Prints figures, and as
its last line one JSON object:

    {"purge_rows_per_s": .., "ingest_p95_ms_idle": .., "ingest_p95_ms_during_purge": ..,
     "reembed_docs_per_s": .., "click_to_start_p95_ms": .., ...}

Goals: purge of 1M in 60 s or less, ingest p95 during the purge at most twice idle,
click to start within 1 s. Options: --messages, --documents, --clicks, --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from scratch import base_url, drop_database, log, recreate_database  # noqa: E402

PYTHON = sys.executable
BENCH_DB = "opsdash_bench_actions"
MESSAGES_PER_CONVERSATION = 50
INGEST_BATCH = 100
INGEST_INTERVAL_S = 0.1


def bench_env(db_url: str, data_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=db_url,
        DJANGO_SETTINGS_MODULE="opsdash.settings",
        OPSDASH_DATA_DIR=data_dir,
        OPSDASH_SECRET_KEY=env.get("OPSDASH_SECRET_KEY", "bench-" + "k" * 40),
        OPSDASH_AUDIT_KEY=env.get("OPSDASH_AUDIT_KEY", "bench-audit-" + "k" * 40),
        OPSDASH_DEBUG="0",
        OPSDASH_LOG_LEVEL="WARNING",
        OPSDASH_DB_CONN_MAX_AGE="600",
        OPSDASH_ACTIONS_REQUIRE_APPROVAL="",
    )
    env.pop("CELERY_BROKER_URL", None)
    return env


def percentile(values: list[float], p: float) -> float:
    import numpy as np

    return float(np.percentile(values, p)) if values else float("nan")


# --- Ingest in a second process ------------------------------------------------------------


def ingest_loop(stop_file: Path, out_file: Path, seconds: float) -> None:
    """Ingest batches for tenant "ingest" until ``stop_file`` exists or ``seconds`` pass."""
    import django

    django.setup()
    import datetime as dt

    from django.db import connection

    from opsdash.tenants.models import Tenant

    tenant = Tenant.objects.get(slug="ingest")
    method = "ingest_events"
    try:
        from opsdash.ingest.events import ingest_events
    except ImportError:
        ingest_events = None

    def events(n: int) -> list[object]:
        now = dt.datetime.now(dt.UTC).isoformat()
        return [
            {
                "event_id": f"e{os.getpid()}-{n}-{i}",
                "ts": now,
                "tenant": "ingest",
                "route": "/api/chat",
                "model": "gpt-4o-mini",
                "status": "ok",
                "latency_ms": 420,
                "input_tokens": 120,
                "output_tokens": 80,
                "conversation_id": f"conv-{os.getpid()}-{n % 50}",
                "input": "how do I reset my password",
                "output": "Open settings, then security, then reset.",
            }
            for i in range(INGEST_BATCH)
        ]

    def copy_messages(n: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO knowledge_conversation (tenant_id, external_id, user_hash, started_at, last_message_at) "
                "VALUES (%s, %s, '', now(), now()) ON CONFLICT DO NOTHING",
                [tenant.pk, f"bench-{os.getpid()}-{n}"],
            )
            cursor.execute(
                "SELECT id FROM knowledge_conversation WHERE tenant_id = %s AND external_id = %s",
                [tenant.pk, f"bench-{os.getpid()}-{n}"],
            )
            conversation_id = cursor.fetchone()[0]
            with cursor.copy(
                "COPY knowledge_message (tenant_id, conversation_id, role, content, event_id, ts) FROM STDIN"
            ) as copy:
                for i in range(INGEST_BATCH):
                    copy.write_row((tenant.pk, conversation_id, "user", "how do I reset my password", f"m{i}", None))

    if ingest_events is not None:
        try:
            result = ingest_events(events(-1))
            if result.accepted != INGEST_BATCH:
                raise RuntimeError(f"ingest_events accepted {result.accepted} of {INGEST_BATCH}: {result.as_dict()}")
        except Exception as exc:  # noqa: BLE001 - whatever breaks it, the bench falls back to COPY
            log(f"ingest_events unusable ({exc!r}); falling back to COPY of messages")
            ingest_events = None
    if ingest_events is None:
        method = "copy_messages"
    latencies = []
    started = time.monotonic()
    n = 0
    while not stop_file.exists() and time.monotonic() - started < seconds:
        t0 = time.perf_counter()
        if ingest_events is not None:
            ingest_events(events(n))
        else:
            from django.db import transaction

            with transaction.atomic():
                copy_messages(n)
        elapsed = time.perf_counter() - t0
        latencies.append(elapsed * 1000)
        n += 1
        time.sleep(max(0.0, INGEST_INTERVAL_S - elapsed))
    out_file.write_text(json.dumps({"method": method, "latencies_ms": latencies}))


def start_ingest(env: dict[str, str], work: Path, name: str, seconds: float) -> tuple[subprocess.Popen, Path, Path]:
    stop, out = work / f"{name}.stop", work / f"{name}.json"
    process = subprocess.Popen(
        [PYTHON, __file__, "--ingest-loop", str(stop), str(out), str(seconds)], cwd=ROOT, env=env
    )
    return process, stop, out


def finish_ingest(process: subprocess.Popen, stop: Path, out: Path) -> dict[str, object]:
    stop.touch()
    process.wait(timeout=120)
    return json.loads(out.read_text())


# --- Main -----------------------------------------------------------------------------------


def seed(messages: int, documents: int) -> None:
    from django.db import DatabaseError, connection

    from opsdash.tenants.models import Tenant

    purge = Tenant.objects.create(slug="purge", name="Purge target")
    Tenant.objects.create(slug="ingest", name="Ingesting")
    Tenant.objects.create(slug="clicks", name="Clicked")
    conversations = max(1, messages // MESSAGES_PER_CONVERSATION)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO knowledge_conversation (tenant_id, external_id, user_hash, started_at, last_message_at) "
            "SELECT %s, 'c' || g, md5(g::text), now() - interval '40 days', now() - interval '40 days' "
            "FROM generate_series(1, %s) g",
            [purge.pk, conversations],
        )
        cursor.execute(
            "INSERT INTO knowledge_message (tenant_id, conversation_id, role, content, event_id, ts) "
            "SELECT c.tenant_id, c.id, CASE WHEN m %% 2 = 0 THEN 'user' ELSE 'assistant' END, "
            "'message ' || m || ' of a conversation about passwords and invoices', '', "
            "c.started_at + m * interval '1 minute' "
            "FROM knowledge_conversation c CROSS JOIN generate_series(1, %s) m WHERE c.tenant_id = %s",
            [MESSAGES_PER_CONVERSATION, purge.pk],
        )
        cursor.execute(
            "INSERT INTO knowledge_document (tenant_id, external_id, title, content, updated_at) "
            "SELECT %s, 'd' || g, 'Article ' || g, "
            "'How to ' || (ARRAY['reset a password','export invoices','rotate an API key','change the plan',"
            "'invite a colleague','delete an account','set up single sign-on','read the audit log'])[1 + g %% 8] || "
            "' on device ' || (g %% 97) || '. Step ' || (g %% 13) || ': open settings, choose the section, confirm, "
            "and check the result in the dashboard of workspace ' || (g %% 1000) || '.', now() "
            "FROM generate_series(1, %s) g",
            [purge.pk, documents],
        )
    # Measure a settled database: no autovacuum catching up with the load above.
    with connection.cursor() as cursor:
        for table in ("knowledge_conversation", "knowledge_message", "knowledge_document"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        try:
            cursor.execute("CHECKPOINT")
        except DatabaseError:
            log("no right to CHECKPOINT here; measuring without it")


def start_worker(env: dict[str, str], work: Path) -> subprocess.Popen:
    log_file = (work / "worker.log").open("w")
    process = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "celery",
            "-A",
            "opsdash",
            "worker",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while " ready." not in (work / "worker.log").read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the worker did not start:\n{(work / 'worker.log').read_text()[-2000:]}")
        time.sleep(0.1)
    return process


def request(kind: str, slug: str, parameters: dict[str, object]):  # type: ignore[no-untyped-def]
    import secrets

    from opsdash.actions.services import request_run
    from opsdash.tenants.models import Tenant

    return request_run(
        Tenant.objects.get(slug=slug),
        kind,
        acting_user=bench_admin(),
        parameters=parameters,
        idempotency_key=secrets.token_urlsafe(24),
    ).run


def bench_admin():  # type: ignore[no-untyped-def]
    from django.contrib.auth import get_user_model

    from opsdash.accounts.services import create_user

    user = get_user_model().objects.filter(username="bench").first()
    return user or create_user("bench", acting_user=None, role="admin", password=None)


def wait_finished(run_id: int, timeout: float = 1800):  # type: ignore[no-untyped-def]
    from opsdash.actions.models import ActionRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = ActionRun.objects.get(pk=run_id)
        if run.is_finished:
            if run.state != "succeeded":
                raise SystemExit(f"run {run.pk} {run.kind} {run.state}: {run.error}")
            return run
        time.sleep(0.02)
    raise SystemExit(f"run {run_id} did not finish in {timeout} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--ingest-loop", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ingest_loop:
        stop, out, seconds = args.ingest_loop
        ingest_loop(Path(stop), Path(out), float(seconds))
        return

    url = base_url()
    db_url = recreate_database(url, BENCH_DB)
    work = Path(tempfile.mkdtemp(prefix="opsdash-bench-actions-"))
    env = bench_env(db_url, str(work))
    os.environ.update(env)
    log(f"scratch database {BENCH_DB}; worker and broker under {work}")
    subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)

    import django

    django.setup()
    from opsdash.actions.models import ActionRun  # noqa: F401 - loads the app's models

    t0 = time.perf_counter()
    seed(args.messages, args.documents)
    log(f"seeded {args.messages:,} messages and {args.documents:,} documents in {time.perf_counter() - t0:.1f} s")
    worker = start_worker(env, work)
    try:
        # Click to start: from the request to the worker's claim, on pause/resume pairs.
        delays = []
        for i in range(args.clicks):
            kind = "pause_tenant" if i % 2 == 0 else "resume_tenant"
            t_click = time.time()
            run = request(kind, "clicks", {"reason": "bench"})
            run = wait_finished(run.pk)
            delays.append((run.started_at.timestamp() - t_click) * 1000)
        log(f"click to start: p50 {percentile(delays, 50):.0f} ms, p95 {percentile(delays, 95):.0f} ms")

        process, stop, out = start_ingest(env, work, "idle", 10)
        idle = finish_ingest(process, stop, out) if process.wait(timeout=120) is not None else {}
        idle_p95 = percentile(idle["latencies_ms"], 95)
        log(f"ingest ({idle['method']}) idle: {len(idle['latencies_ms'])} batches, p95 {idle_p95:.1f} ms")

        process, stop, out = start_ingest(env, work, "purge", 3600)
        time.sleep(2)  # the ingest loop is up
        run = request("purge_conversations", "purge", {"before": None, "user_hash": ""})
        run = wait_finished(run.pk)
        during = finish_ingest(process, stop, out)
        purge_s = (run.finished_at - run.started_at).total_seconds()
        purged_messages = run.result["messages_deleted"]
        deleted = purged_messages + run.result["conversations_deleted"]
        during_p95 = percentile(during["latencies_ms"], 95)
        log(
            f"purge: {run.result['messages_deleted']:,} messages and {run.result['conversations_deleted']:,} "
            f"conversations in {purge_s:.1f} s ({deleted / purge_s:,.0f} rows/s); ingest p95 during it "
            f"{during_p95:.1f} ms over {len(during['latencies_ms'])} batches"
        )

        run = request("reembed_documents", "purge", {"embedder": "hashing"})
        run = wait_finished(run.pk)
        embed_s = (run.finished_at - run.started_at).total_seconds()
        docs = run.result["documents_embedded"]
        log(f"re-embed: {docs:,} documents in {embed_s:.1f} s ({docs / embed_s:,.0f} docs/s)")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        from opsdash.lib import embedded_broker

        embedded_broker.stop(work)  # the default broker of this run's data folder, if it was started
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(url, BENCH_DB)
            shutil.rmtree(work, ignore_errors=True)

    figures = {
        "purge_rows_per_s": round(deleted / purge_s),
        "purge_messages": purged_messages,
        "purge_seconds": round(purge_s, 1),
        "ingest_method": idle["method"],
        "ingest_p95_ms_idle": round(idle_p95, 1),
        "ingest_p95_ms_during_purge": round(during_p95, 1),
        "reembed_docs_per_s": round(docs / embed_s),
        "click_to_start_p95_ms": round(percentile(delays, 95)),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
