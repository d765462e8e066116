"""A real Postgres for development and tests when DATABASE_URL is unset.

The ``pgserver`` package ships Postgres binaries; we keep its data folder under
OPSDASH_DATA_DIR and leave the server running between commands, so the second
``make demo`` or ``make test`` reuses it in well under a second. ``stop()`` is what
``make demo`` calls on the way out.

pgserver is a development tool (the ``demo`` extra, which ``make`` installs), not a runtime
dependency: settings import this module everywhere, including production images where
DATABASE_URL is set and pgserver is not installed, so pgserver is imported only inside the
functions that start or stop the embedded server, never at module level.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

from opsdash.lib.env import ConfigError

DATABASE_NAME = "opsdash"

log = logging.getLogger(__name__)


def pgdata_dir(data_dir: Path) -> Path:
    return data_dir / "pg"


def _server(data_dir: Path):  # type: ignore[no-untyped-def]
    # pgserver warns on every import when XDG_RUNTIME_DIR is unset; it then uses /tmp.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(Path(tempfile.gettempdir()) / f"runtime-{os.getuid()}"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import pgserver  # here, not at the top: see the module docstring
        except ModuleNotFoundError as exc:
            if exc.name != "pgserver":
                raise
            raise ConfigError(
                "DATABASE_URL is not set and the embedded Postgres (the pgserver package, in "
                "opsdash's demo extra) is not installed; set DATABASE_URL, or install the "
                "development dependencies with `make` (or pip install -e '.[demo]')."
            ) from exc

    pgdata = pgdata_dir(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    # pgserver caches one handle per folder for the life of the process; a server
    # stopped or killed since then must be looked at again, not trusted.
    pgserver.PostgresServer._instances.pop(pgdata.resolve(), None)
    try:
        server = pgserver.get_server(pgdata, cleanup_mode=None)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, AssertionError, OSError) as exc:
        raise ConfigError(
            f"The embedded Postgres in {pgdata} did not start ({type(exc).__name__}); "
            f"read {pgdata / 'log'} for the reason, run `make db-reset` to start from an empty "
            f"database, or set DATABASE_URL to use another server."
        ) from exc
    # With cleanup_mode=None its exit hook only updates a shared pid list, and processes
    # stopping together (Ctrl-C of `make demo`) race on that file and print a traceback.
    # Stopping the server is `embedded_db stop`'s job, so there is nothing to do at exit.
    atexit.unregister(server._cleanup)
    return server


def socket_dir(data_dir: Path) -> str:
    """Start (or reuse) the embedded server and return the directory of its socket."""
    server = _server(data_dir)
    uri = server.get_uri()
    # pgserver's URI is postgresql://postgres:@/postgres?host=<socket dir>
    return uri.split("host=", 1)[1]


def ensure_database(data_dir: Path, name: str = DATABASE_NAME) -> str:
    """Start the server, create the application database if missing; return the socket dir."""
    import psycopg

    host = socket_dir(data_dir)
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return host


def stop(data_dir: Path) -> bool:
    """Stop the embedded server if it runs; True when it was running."""
    pgdata = pgdata_dir(data_dir)
    pidfile = pgdata / "postmaster.pid"
    if not pidfile.exists():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Here, not at the top: see the module docstring.
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import time

    user = "pgserver" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    except subprocess.CalledProcessError:
        return False
    return True


def _reset(data_dir: Path) -> str:
    stop(data_dir)
    shutil.rmtree(pgdata_dir(data_dir), ignore_errors=True)
    # The audit checkpoints describe the chain of the database just removed; kept, they
    # would make the new, empty chain look like a deleted one.
    checkpoints = os.environ.get("OPSDASH_AUDIT_CHECKPOINT_FILE") or data_dir / "audit-checkpoints.jsonl"
    Path(checkpoints).unlink(missing_ok=True)
    return f"removed {pgdata_dir(data_dir)}; the next start creates an empty database."


def _start(data_dir: Path) -> str:
    ensure_database(data_dir)
    return f"embedded Postgres running in {pgdata_dir(data_dir)}"


ACTIONS = {
    "start": _start,
    "stop": lambda d: "embedded Postgres stopped." if stop(d) else "embedded Postgres was not running.",
    "reset": _reset,
    "url": lambda d: f"postgresql://postgres@/{DATABASE_NAME}?host={ensure_database(d)}",
}

if __name__ == "__main__":
    import sys

    from opsdash.lib import embedded_cli

    raise SystemExit(embedded_cli.run("opsdash.lib.embedded_db", ACTIONS, sys.argv[1:]))
