#!/usr/bin/env python3
"""The embedded Postgres and broker of a data folder, for `make demo`'s start and exit.

    scripts/embedded_services.py status
        prints "database=running|stopped broker=running|stopped"
    scripts/embedded_services.py stop-unused [--database] [--broker]
        stops each one named, unless other clients still use it: a benchmark, a test run or
        a shell on the same server must not lose it because a demo ended. Postgres counts
        the client sessions in pg_stat_activity other than this one; the broker its
        connected clients. What stays up is said, with how to stop it later.

Uses OPSDASH_DATA_DIR (default .opsdash) and no Django settings, so it works when they
cannot load.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from opsdash.lib import embedded_broker, embedded_db  # noqa: E402 - after the path above

# Clients that were just stopped may still hold their sessions for a moment.
SETTLE_SECONDS = 3.0


def data_dir() -> Path:
    return Path(os.environ.get("OPSDASH_DATA_DIR", ROOT / ".opsdash")).resolve()


def database_running(folder: Path) -> bool:
    return (embedded_db.pgdata_dir(folder) / "postmaster.pid").exists()


def other_database_sessions(folder: Path) -> list[str]:
    """The client sessions on the embedded server besides this one, as 'user@db (app)'."""
    import psycopg

    host = embedded_db.socket_dir(folder)
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT usename, datname, application_name FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchall()
    return [f"{user}@{db}" + (f" ({app})" if app else "") for user, db, app in rows]


def settle[T](count: Callable[[], T]) -> T:
    """The value of ``count()`` once it is empty or SETTLE_SECONDS have passed."""
    deadline = time.monotonic() + SETTLE_SECONDS
    value = count()
    while value and time.monotonic() < deadline:
        time.sleep(0.2)
        value = count()
    return value


def stop_unused(folder: Path, database: bool, broker: bool) -> None:
    if broker and embedded_broker.is_running(folder):
        clients = settle(lambda: embedded_broker.client_count(folder))
        if clients:
            print(
                f"opsdash: the embedded broker stays up: {clients} other client(s) use it "
                "(`python -m opsdash.lib.embedded_broker stop` stops it)."
            )
        else:
            embedded_broker.stop(folder)
    if database and database_running(folder):
        sessions = settle(lambda: other_database_sessions(folder))
        if sessions:
            shown = ", ".join(sorted(set(sessions))[:5])
            print(
                f"opsdash: the embedded Postgres stays up: {len(sessions)} other client session(s) "
                f"use it ({shown}); `make db-stop` stops it."
            )
        else:
            embedded_db.stop(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("status")
    stop = sub.add_parser("stop-unused")
    stop.add_argument("--database", action="store_true")
    stop.add_argument("--broker", action="store_true")
    args = parser.parse_args(argv)
    folder = data_dir()
    if args.action == "status":
        database = "running" if database_running(folder) else "stopped"
        broker = "running" if embedded_broker.is_running(folder) else "stopped"
        print(f"database={database} broker={broker}")
    else:
        stop_unused(folder, args.database, args.broker)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
