#!/usr/bin/env python3
"""Run a command and start it again whenever it exits, until this process is told to stop.

    scripts/keep_running.py [--name worker] [--max-backoff 30] [--max-restarts N] -- command ...

`make demo` runs the Celery worker under it: honcho stops every process as soon as one
exits, so a worker that dies (a crash, the OOM killer, kill -9) would otherwise take the web
server and beat down with it. Each restart is logged on one line; the pause before it
doubles from 1 s up to --max-backoff while the command keeps dying quickly, and drops back
to 1 s once a run lasted a minute. SIGTERM, SIGINT or SIGHUP stop the command (the signal is
passed on) and then this process, with the command's exit status.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from types import FrameType

# A run this long counts as healthy: the next crash waits 1 s again.
HEALTHY_RUN_SECONDS = 60.0


def log(name: str, message: str) -> None:
    print(f"keep_running[{name}]: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="command", help="what to call the command in log lines")
    parser.add_argument("--max-backoff", type=float, default=30.0, help="longest pause before a restart (s)")
    parser.add_argument("--max-restarts", type=int, default=0, help="give up after this many restarts (0: never)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")

    stopping: list[int] = []
    child: subprocess.Popen[bytes] | None = None

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)

    backoff = 1.0
    restarts = 0
    while True:
        started = time.monotonic()
        child = subprocess.Popen(command)  # noqa: S603 - the command line this script was given
        status = child.wait()
        ran = time.monotonic() - started
        if stopping:
            return status if status >= 0 else 128 - status
        if ran >= HEALTHY_RUN_SECONDS:
            backoff = 1.0
        restarts += 1
        if args.max_restarts and restarts > args.max_restarts:
            log(args.name, f"exited with status {status} after {ran:.0f} s; gave up after {args.max_restarts} restarts")
            return status if status > 0 else 1
        log(args.name, f"exited with status {status} after {ran:.0f} s; restart {restarts} in {backoff:.0f} s")
        deadline = time.monotonic() + backoff
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
        if stopping:
            return 0
        backoff = min(args.max_backoff, backoff * 2)


if __name__ == "__main__":
    raise SystemExit(main())
