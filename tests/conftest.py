"""Named users, as in every test of opsdash: alice admin, bob operator, carol viewer,
dave outsider (a viewer limited to another tenant), and eve with no role at all."""

from __future__ import annotations

import datetime as dt
import functools
import os
import random
from collections.abc import Iterator

import numpy as np
import pytest
import time_machine
from django.contrib.auth import get_user_model
from hypothesis import settings as hypothesis_settings

from opsdash.accounts.models import Role, RoleAssignment, ScopeHistory
from opsdash.tenants.models import Tenant

PASSWORD = "correct-horse-battery-staple"


# --- The clock and the random seeds ---------------------------------------------------------
#
# Every test runs at one pinned instant, the same on every machine at every hour: a test that
# passes once passes at 21:40 UTC, on the 1st and on Feb 29 too, or fails there every time.
# OPSDASH_TEST_NOW moves that instant (make test-clock-sweep runs the clock-sensitive tests at
# the hours and dates that broke before). The clock ticks from there: tests that wait for a
# deadline, a lease or a fold need time to pass, and a frozen clock would hang them or give
# every row of a test the same timestamp (and ties no test asked for).
#
# The pin is applied around each test's whole run, setup to teardown, so the package- and
# module-scoped fixtures that build data (tests/dashboards' traffic, seed_demo's loaded demo)
# are set up at the same instant as the test that reads it; collection runs frozen at the
# instant, so a module-level NOW is that instant too. The demo generator, the factories and
# the application all read django.utils.timezone.now() (or datetime.now()), both of which
# time-machine moves, in this process and its threads (the live server's too).
#
# Tests marked real_clock run on the machine's clock, as do browser and worker tests: Chromium
# and `celery worker` are other processes, which time-machine cannot move, and their
# timestamps (cookie expiry, heartbeats, job times) must agree with the test's.

DEFAULT_TEST_NOW = "2026-11-18T14:30:00Z"
DEFAULT_TEST_SEED = 20261118
REAL_CLOCK_MARKERS = ("real_clock", "browser", "worker")


@functools.cache
def pinned_now() -> dt.datetime:
    """The instant every test starts at: OPSDASH_TEST_NOW (ISO 8601 with an offset) or the default."""
    raw = os.environ.get("OPSDASH_TEST_NOW", "").strip() or DEFAULT_TEST_NOW
    try:
        instant = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise pytest.UsageError(f"OPSDASH_TEST_NOW={raw!r} is not ISO 8601, e.g. 2026-12-31T23:55:00Z") from None
    if instant.tzinfo is None:
        raise pytest.UsageError(f"OPSDASH_TEST_NOW={raw!r} needs a UTC offset, such as 2026-12-31T23:55:00Z")
    return instant.astimezone(dt.UTC)


@functools.cache
def random_seed() -> int:
    """The seed of `random` and numpy's global generator at the start of every test."""
    raw = os.environ.get("OPSDASH_TEST_SEED", "").strip()
    try:
        return int(raw) if raw else DEFAULT_TEST_SEED
    except ValueError:
        raise pytest.UsageError(f"OPSDASH_TEST_SEED={raw!r} is not an integer") from None


# Hypothesis draws the same examples on every run (derived from each test's name); failures
# print the example and a reproduce blob. OPSDASH_HYPOTHESIS_PROFILE=explore searches afresh.
hypothesis_settings.register_profile("deterministic", derandomize=True, database=None, print_blob=True)
hypothesis_settings.register_profile("explore", derandomize=False, print_blob=True)
HYPOTHESIS_PROFILE = os.environ.get("OPSDASH_HYPOTHESIS_PROFILE", "deterministic")
hypothesis_settings.load_profile(HYPOTHESIS_PROFILE)


def uses_real_clock(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(name) for name in REAL_CLOCK_MARKERS)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "real_clock: runs on the machine's clock instead of the pinned test clock (tests/conftest.py)"
    )
    pinned_now(), random_seed()  # a bad OPSDASH_TEST_NOW or OPSDASH_TEST_SEED stops the run here


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"clock: pinned at {pinned_now():%Y-%m-%dT%H:%M:%SZ} (ticking; OPSDASH_TEST_NOW to move it; "
        f"real_clock, browser and worker tests on the machine's clock)",
        f"random seed: {random_seed()} (OPSDASH_TEST_SEED); hypothesis profile: {HYPOTHESIS_PROFILE}",
    ]


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Iterator[None]:
    with time_machine.travel(pinned_now(), tick=False):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    random.seed(random_seed())
    np.random.seed(random_seed() % 2**32)  # for code on numpy's global generator
    if uses_real_clock(item):
        return (yield)
    with time_machine.travel(pinned_now(), tick=True) as traveller:
        item.stash[_clock_key] = traveller
        try:
            return (yield)
        finally:
            del item.stash[_clock_key]


_clock_key = pytest.StashKey[time_machine.Traveller]()


@pytest.fixture(autouse=True)
def pinned_clock(request: pytest.FixtureRequest) -> time_machine.Traveller | None:
    """The test's clock: started at pinned_now() and ticking (``pinned_clock.shift(...)`` and
    ``.move_to(...)`` move it); None for a test on the machine's clock."""
    return request.node.stash.get(_clock_key, None)


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
def _empty_cache() -> Iterator[None]:
    # What a page caches for a minute (the overview's anomalies) must not outlive the data
    # of the test that made it.
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


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
    """Start real `celery worker` processes on the test database and a private embedded
    broker (the default one, a Redis of this test's own on a socket under tmp_path):
    ``start(env={...})`` returns a WorkerProcess. While the fixture lives, this process
    sends its tasks (e.g. the ones sent on commit by a view under test) to that same
    broker, so they reach the worker and nobody else's."""
    import subprocess
    import sys
    from pathlib import Path

    from django.conf import settings

    from opsdash.celery import app
    from opsdash.lib import embedded_broker

    root = Path(__file__).resolve().parents[1]
    # The workers find the same server from OPSDASH_DATA_DIR=tmp_path.
    saved = app.conf.broker_url, app.conf.broker_transport_options

    def use_broker(url, transport_options) -> None:  # type: ignore[no-untyped-def]
        app.conf.broker_url, app.conf.broker_transport_options = url, transport_options
        # The producer pools hold connections made with the previous options.
        app._pool = None
        app.amqp._producer_pool = None

    use_broker(embedded_broker.url(tmp_path), embedded_broker.transport_options(tmp_path))
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
        embedded_broker.stop(tmp_path)
