"""Soak: beat, a worker, actions and ingest together for a while on a loaded machine, the way
`make demo` runs them; ends with the worker's crashes (0 expected).

Runs on a scratch database ``opsdash_soak`` (created and migrated here) of the embedded
server or of the server DATABASE_URL names, with its own data folder (so its own embedded
broker) in a temporary directory. The worker and beat run as the Procfile runs them (under
scripts/keep_running.py, which restarts a worker that dies and logs it); one CPU burner per
core loads the machine; a second process ingests a batch of events every second; this one
clicks an action every few seconds (pause and resume in turn, and now and then a re-embed
or a purge) and times each from the request to the worker's start. Only local processes
and the database server are involved; every loop stops at the deadline. Prints figures,
and as its last line one JSON object:

    {"minutes": .., "worker_crashes": .., "tasks_run": .., "tasks_failed": .., "actions_completed": ..,
     "actions_failed": .., "ingest_batches": .., "ingest_events": .., "click_to_start_p95_ms": .., ...}

Options: --minutes (default 30), --click-every (s), --no-load, --keep.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from actions import bench_admin, bench_env, percentile  # noqa: E402
from scratch import base_url, drop_database, log, recreate_database  # noqa: E402

PYTHON = sys.executable
SOAK_DB = "opsdash_soak"
INGEST_BATCH = 100
INGEST_INTERVAL_S = 1.0
DOCUMENTS = 2000


def ingest_loop(out_file: Path, seconds: float) -> None:
    """Ingest a batch of events (each with a conversation message) every second until
    ``seconds`` pass; writes how many batches and events went in, and the failures."""
    import django

    django.setup()
    from opsdash.ingest.events import ingest_events

    deadline = time.monotonic() + seconds
    batches = events = failures = 0
    latencies: list[float] = []
    n = 0
    while time.monotonic() < deadline:
        now = dt.datetime.now(dt.UTC).isoformat()
        batch = [
            {
                "event_id": f"soak-{n}-{i}",
                "ts": now,
                "tenant": "ingest",
                "route": f"/api/route-{i % 5}",
                "model": "gpt-4o-mini",
                "status": "ok" if i % 20 else "error",
                "latency_ms": 200 + (i * 37) % 900,
                "input_tokens": 120,
                "output_tokens": 80,
                "conversation_id": f"conv-{n % 200}",
                "input": "how do I reset my password",
                "output": "Open settings, then security, then reset.",
            }
            for i in range(INGEST_BATCH)
        ]
        started = time.perf_counter()
        try:
            result = ingest_events(batch)
            events += result.accepted
            batches += 1
        except Exception as exc:  # noqa: BLE001 - counted and shown, the soak goes on
            failures += 1
            log(f"ingest batch {n} failed: {exc!r}")
        elapsed = time.perf_counter() - started
        latencies.append(elapsed * 1000)
        n += 1
        time.sleep(max(0.0, min(INGEST_INTERVAL_S - elapsed, deadline - time.monotonic())))
    out_file.write_text(
        json.dumps({"batches": batches, "events": events, "failures": failures, "p95_ms": percentile(latencies, 95)})
    )


def start(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(process: subprocess.Popen, timeout: float = 60) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def burners(seconds: float) -> list[subprocess.Popen]:
    """One busy process per core, each ending by itself after ``seconds``."""
    code = f"import time\nend = time.monotonic() + {seconds:.0f}\nwhile time.monotonic() < end: pass"
    return [subprocess.Popen([PYTHON, "-c", code]) for _ in range(os.cpu_count() or 1)]


def request(slug: str, kind: str, parameters: dict[str, object]):  # type: ignore[no-untyped-def]
    from opsdash.actions.services import request_run
    from opsdash.tenants.models import Tenant

    return request_run(
        Tenant.objects.get(slug=slug),
        kind,
        acting_user=bench_admin(),
        parameters=parameters,
        idempotency_key=secrets.token_urlsafe(24),
    ).run


def seed() -> None:
    from django.db import connection

    from opsdash.tenants.models import Tenant

    Tenant.objects.create(slug="clicks", name="Clicked")
    docs = Tenant.objects.create(slug="docs", name="Documents")
    Tenant.objects.create(slug="ingest", name="Ingesting")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO knowledge_document (tenant_id, external_id, title, content, updated_at) "
            "SELECT %s, 'd' || g, 'Article ' || g, 'How to reset a password, step ' || g, now() "
            "FROM generate_series(1, %s) g",
            [docs.pk, DOCUMENTS],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--click-every", type=float, default=5.0, help="seconds between actions")
    parser.add_argument("--no-load", action="store_true", help="no CPU burners")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database and the logs")
    parser.add_argument("--ingest-loop", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ingest_loop:
        ingest_loop(Path(args.ingest_loop[0]), float(args.ingest_loop[1]))
        return

    seconds = args.minutes * 60
    url = base_url()
    db_url = recreate_database(url, SOAK_DB)
    work = Path(tempfile.mkdtemp(prefix="opsdash-soak-"))
    env = bench_env(db_url, str(work))
    env.update(OPSDASH_LOG_LEVEL="INFO", OPSDASH_ROLLUP_INTERVAL_SECONDS="5")
    os.environ.update(env)
    log(f"soak for {args.minutes:g} min on scratch database {SOAK_DB}; data folder and logs under {work}")
    subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)

    import django

    django.setup()
    from django.conf import settings

    from opsdash.actions.models import ActionRun

    seed()
    log(f"broker: {settings.CELERY_BROKER_URL.split('://', 1)[0]}")
    keep = [PYTHON, str(ROOT / "scripts" / "keep_running.py")]
    celery = [PYTHON, "-m", "celery", "-A", "opsdash"]
    worker = start(
        [
            *keep,
            "--name",
            "worker",
            "--",
            *celery,
            "worker",
            "--loglevel=INFO",
            "--concurrency=2",
            "--without-gossip",
            "--without-mingle",
        ],
        env,
        work / "worker.log",
    )
    beat = start(
        [*keep, "--name", "beat", "--", *celery, "beat", "--loglevel=INFO", "-s", str(work / "celerybeat-schedule")],
        env,
        work / "beat.log",
    )
    deadline = time.monotonic() + seconds
    while " ready." not in (work / "worker.log").read_text(errors="replace"):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the worker did not start:\n{(work / 'worker.log').read_text()[-3000:]}")
        time.sleep(0.1)
    load = [] if args.no_load else burners(seconds + 30)
    ingest_out = work / "ingest.json"
    ingest = start([PYTHON, __file__, "--ingest-loop", str(ingest_out), str(seconds)], env, work / "ingest.log")

    delays: list[float] = []
    pending: list[tuple[int, float]] = []  # (run id, click time)
    kinds: dict[str, int] = {}
    clicks = 0
    next_report = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            clicks += 1
            if clicks % 30 == 0:
                slug, kind, parameters = "docs", "reembed_documents", {"embedder": "hashing"}
            elif clicks % 30 == 15:
                slug, kind, parameters = "ingest", "purge_conversations", {"before": None, "user_hash": ""}
            else:
                from opsdash.tenants.models import Tenant

                paused = Tenant.objects.get(slug="clicks").is_paused
                slug, kind, parameters = "clicks", "resume_tenant" if paused else "pause_tenant", {"reason": "soak"}
            if kind in ("pause_tenant", "resume_tenant"):
                # One at a time: the next pause or resume depends on this one's outcome.
                clicked = time.time()
                run = request(slug, kind, parameters)
                until = time.monotonic() + 120
                while not run.is_finished and time.monotonic() < until:
                    time.sleep(0.02)
                    run.refresh_from_db()
                if run.started_at:
                    delays.append((run.started_at.timestamp() - clicked) * 1000)
            else:
                pending.append((request(slug, kind, parameters).pk, time.time()))
            kinds[kind] = kinds.get(kind, 0) + 1
            if time.monotonic() > next_report:
                next_report += 300
                done = ActionRun.objects.filter(state="succeeded").count()
                log(
                    f"{(seconds - (deadline - time.monotonic())) / 60:.0f} min: {done} actions done, "
                    f"click to start p95 {percentile(delays, 95):.0f} ms"
                )
            time.sleep(max(0.0, min(args.click_every, deadline - time.monotonic())))
        # Let the last runs finish (bounded).
        until = time.monotonic() + 300
        while time.monotonic() < until and ActionRun.objects.exclude(state__in=ActionRun.FINISHED_STATES).exists():
            time.sleep(0.5)
    finally:
        ingest.wait(timeout=120) if ingest.poll() is None else None
        for process in load:
            process.kill()
            process.wait()
        stop(beat)
        stop(worker)

    worker_log = (work / "worker.log").read_text(errors="replace")
    beat_log = (work / "beat.log").read_text(errors="replace")
    restarts = len(re.findall(r"keep_running\[worker\]: exited", worker_log))
    unrecoverable = worker_log.count("Unrecoverable error")
    ingest_figures = json.loads(ingest_out.read_text()) if ingest_out.exists() else {}
    states = {row["state"]: row["n"] for row in _count_states(ActionRun)}
    figures = {
        "minutes": args.minutes,
        "loaded": not args.no_load,
        "broker": settings.CELERY_BROKER_URL.split("://", 1)[0],
        "worker_crashes": restarts,
        "worker_unrecoverable_errors": unrecoverable,
        "beat_restarts": len(re.findall(r"keep_running\[beat\]: exited", beat_log)),
        "tasks_run": worker_log.count("] succeeded in"),
        "tasks_failed": len(re.findall(r"\] raised unexpected", worker_log)),
        "actions_requested": sum(kinds.values()),
        "actions_completed": states.get("succeeded", 0),
        "actions_failed": states.get("failed", 0),
        "actions_unfinished": sum(n for state, n in states.items() if state not in ("succeeded", "failed")),
        "ingest_batches": ingest_figures.get("batches"),
        "ingest_events": ingest_figures.get("events"),
        "ingest_failures": ingest_figures.get("failures"),
        "ingest_p95_ms": round(ingest_figures.get("p95_ms", float("nan")), 1),
        "click_to_start_p50_ms": round(percentile(delays, 50)),
        "click_to_start_p95_ms": round(percentile(delays, 95)),
        "click_to_start_max_ms": round(max(delays)) if delays else None,
    }
    log(
        f"worker crashes {figures['worker_crashes']} (unrecoverable errors {unrecoverable}); tasks run "
        f"{figures['tasks_run']} ({figures['tasks_failed']} failed); actions completed {figures['actions_completed']} "
        f"of {figures['actions_requested']}; ingest batches {figures['ingest_batches']} "
        f"({figures['ingest_events']} events); click to start p95 {figures['click_to_start_p95_ms']} ms"
    )
    from django.db import connections

    connections.close_all()
    from opsdash.lib import embedded_broker

    embedded_broker.stop(work)
    if not args.keep:
        drop_database(url, SOAK_DB)
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures))


def _count_states(model):  # type: ignore[no-untyped-def]
    from django.db.models import Count

    return model.objects.values("state").annotate(n=Count("id"))


if __name__ == "__main__":
    main()
