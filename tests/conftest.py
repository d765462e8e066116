"""Named users, as in every test of opsdash: alice admin, bob operator, carol viewer,
dave outsider (a viewer limited to another tenant), and eve with no role at all."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from opsdash.accounts.models import Role, RoleAssignment, ScopeHistory
from opsdash.tenants.models import Tenant

PASSWORD = "correct-horse-battery-staple"


def _flush_past_the_audit_guard() -> None:
    """Let the test framework empty the audit table between tests.

    A trigger refuses TRUNCATE of the audit table; Django's flush (after transactional and
    browser tests) truncates every table in one statement, in one transaction. That one
    trigger is switched off inside the flush's transaction (other tables' TRUNCATE triggers
    must still fire: they empty the summaries they keep). ALTER TABLE needs the table's
    owner, which the test database's user is (the application's production role is not:
    docs/database-roles.md)."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush
    if getattr(original, "_skips_audit_guard", False):
        return

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):  # type: ignore[no-untyped-def]
        sql = original(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        if sql and "audit_auditevent" in tables:
            return [
                "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_no_truncate",
                *sql,
                "ALTER TABLE audit_auditevent ENABLE TRIGGER audit_auditevent_no_truncate",
            ]
        return sql

    sql_flush._skips_audit_guard = True  # type: ignore[attr-defined]
    DatabaseOperations.sql_flush = sql_flush  # type: ignore[method-assign]


_flush_past_the_audit_guard()


@pytest.fixture(autouse=True)
def _audit_checkpoints_of_this_test(settings, tmp_path_factory):
    # Checkpoints name the database; each test's chain starts empty, so each test keeps its
    # own file rather than meeting the checkpoints of an earlier test's chain.
    settings.AUDIT_CHECKPOINT_FILE = tmp_path_factory.mktemp("audit") / "checkpoints.jsonl"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The production hasher is slow on purpose; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_user(username: str, role: str | None, tenants: list[Tenant] | None = None):
    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    if role is not None:
        assignment = RoleAssignment.objects.create(user=user, role=role)
        if tenants:
            assignment.tenants.set(tenants)
        # As the services do: the scope is remembered, so later changes made directly in a
        # test cannot make the user look narrower than it ever was.
        for tenant in tenants or [None]:
            ScopeHistory.objects.get_or_create(user=user, tenant=tenant)
    return user


@pytest.fixture
def acme(db) -> Tenant:
    return Tenant.objects.create(slug="acme", name="Acme Corp", daily_budget_usd=100, monthly_budget_usd=2500)


@pytest.fixture
def globex(db) -> Tenant:
    return Tenant.objects.create(slug="globex", name="Globex", daily_budget_usd=50, monthly_budget_usd=1000)


@pytest.fixture
def alice(db):
    return make_user("alice", Role.ADMIN)


@pytest.fixture
def bob(db):
    return make_user("bob", Role.OPERATOR)


@pytest.fixture
def carol(db):
    return make_user("carol", Role.VIEWER)


@pytest.fixture
def dave(db, globex):
    return make_user("dave", Role.VIEWER, [globex])


@pytest.fixture
def eve(db):
    return make_user("eve", None)


@pytest.fixture
def initech(db) -> Tenant:
    return Tenant.objects.create(slug="initech", name="Initech")


@pytest.fixture
def frank(db, acme):
    """An operator limited to acme."""
    return make_user("frank", Role.OPERATOR, [acme])


@pytest.fixture
def grace(db, acme):
    """An admin limited to acme."""
    return make_user("grace", Role.ADMIN, [acme])


# --- Celery ---------------------------------------------------------------------------------


@pytest.fixture
def eager_celery():
    """Tasks run in the test's own process and transaction the moment they are sent
    (with django_capture_on_commit_callbacks(execute=True) for the ones sent on commit)."""
    from opsdash.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


def database_url_for_tests() -> str:
    """The URL of the test database, for processes started by a test."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    if db["HOST"].startswith("/"):
        return f"postgresql://{auth}@/{db['NAME']}?host={db['HOST']}"
    return f"postgresql://{auth}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


class WorkerProcess:
    """A `celery worker` process started by a test; its output goes to ``log``."""

    def __init__(self, process, log) -> None:  # type: ignore[no-untyped-def]
        self.process = process
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self, seconds: float = 60.0) -> None:
        import time

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if " ready." in self.output():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"the worker did not start:\n{self.output()[-3000:]}")

    def wait_exit(self, seconds: float = 60.0) -> int:
        import subprocess

        try:
            return self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the worker did not exit:\n{self.output()[-3000:]}") from None

    def stop(self) -> None:
        import subprocess

        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def celery_worker_process(tmp_path, transactional_db):
    """Start real `celery worker` processes on the test database and a private filesystem
    broker folder: ``start(env={...})`` returns a WorkerProcess. While the fixture lives,
    this process sends its tasks (e.g. the ones sent on commit by a view under test) to
    that same folder, so they reach the worker and nobody else's."""
    import subprocess
    import sys
    from pathlib import Path

    from django.conf import settings

    from opsdash.celery import app

    root = Path(__file__).resolve().parents[1]
    broker = tmp_path / "broker"
    options = {
        "data_folder_in": str(broker / "queue"),
        "data_folder_out": str(broker / "queue"),
        "processed_folder": str(broker / "processed"),
        "control_folder": str(broker / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
    for key in ("data_folder_in", "processed_folder", "control_folder"):
        Path(options[key]).mkdir(parents=True, exist_ok=True)
    saved = app.conf.broker_url, app.conf.broker_transport_options

    def use_broker(url, transport_options) -> None:  # type: ignore[no-untyped-def]
        app.conf.broker_url, app.conf.broker_transport_options = url, transport_options
        # The producer pools hold connections made with the previous options.
        app._pool = None
        app.amqp._producer_pool = None

    use_broker("filesystem://", options)
    workers: list[WorkerProcess] = []

    def start(env: dict[str, str] | None = None, wait: bool = True) -> WorkerProcess:
        import os

        full_env = {
            **os.environ,
            "DATABASE_URL": database_url_for_tests(),
            "OPSDASH_DATA_DIR": str(tmp_path),
            "OPSDASH_SECRET_KEY": settings.SECRET_KEY,
            **(env or {}),
        }
        full_env.pop("CELERY_BROKER_URL", None)
        log = tmp_path / f"worker-{len(workers)}.log"
        process = subprocess.Popen(
            [
                sys.executable,
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
            cwd=root,
            env=full_env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        worker = WorkerProcess(process, log)
        workers.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            worker.stop()
        use_broker(*saved)
