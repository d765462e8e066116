from __future__ import annotations

import psycopg
import pytest

from opsdash.lib import embedded_db


@pytest.fixture
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("opsdash-data")
    yield path
    embedded_db.stop(path)


def test_it_starts_a_real_postgres_and_creates_the_database(data_dir):
    host = embedded_db.ensure_database(data_dir)
    with psycopg.connect(host=host, user="postgres", dbname=embedded_db.DATABASE_NAME) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()[0]
    assert int(version) >= 150000
    assert (embedded_db.pgdata_dir(data_dir) / "PG_VERSION").exists()


def test_it_reuses_a_running_server_and_keeps_data(data_dir):
    host = embedded_db.ensure_database(data_dir)
    with psycopg.connect(host=host, user="postgres", dbname="opsdash", autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (v int)")
        conn.execute("INSERT INTO kept VALUES (7)")
        pid = conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
    again = embedded_db.ensure_database(data_dir)
    with psycopg.connect(host=again, user="postgres", dbname="opsdash") as conn:
        assert conn.execute("SELECT v FROM kept").fetchone()[0] == 7
        assert conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0] == pid


def test_it_restarts_after_a_stop_with_data_intact(data_dir):
    host = embedded_db.ensure_database(data_dir)
    with psycopg.connect(host=host, user="postgres", dbname="opsdash", autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (v int)")
    assert embedded_db.stop(data_dir) is True
    assert embedded_db.stop(data_dir) is False
    host = embedded_db.ensure_database(data_dir)
    with psycopg.connect(host=host, user="postgres", dbname="opsdash") as conn:
        assert conn.execute("SELECT count(*) FROM kept").fetchone()[0] == 0


def test_it_recovers_from_a_stale_pid_file_after_a_crash(data_dir):
    import os
    import signal

    embedded_db.ensure_database(data_dir)
    pidfile = embedded_db.pgdata_dir(data_dir) / "postmaster.pid"
    pid = int(pidfile.read_text().splitlines()[0])
    os.kill(pid, signal.SIGKILL)  # what a power cut or OOM kill leaves behind: postmaster.pid stays
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        import time

        time.sleep(0.1)
    assert pidfile.exists()
    host = embedded_db.ensure_database(data_dir)
    with psycopg.connect(host=host, user="postgres", dbname="opsdash") as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1
