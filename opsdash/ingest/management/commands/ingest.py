"""Load events from an NDJSON file (or stdin) through the same ingest as the API."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from opsdash.ingest.decode import Unreadable, ndjson_records
from opsdash.ingest.events import ingest_events
from opsdash.telemetry.rollups import refresh_rollups


class Command(BaseCommand):
    help = "Ingest NDJSON events from FILE ('-' for stdin); exits non-zero if any line was rejected."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="NDJSON file, one event per line; '-' reads stdin")
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument("--show", type=int, default=20, help="rejected lines to list at the end")

    def handle(self, *args: Any, **options: Any) -> None:
        size = options["batch_size"]
        if size < 1:
            raise CommandError("--batch-size must be at least 1.")
        path = options["file"]
        if path == "-":
            self._run(sys.stdin.buffer, size, options["show"])
            return
        try:
            stream = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
        with stream:
            self._run(stream, size, options["show"])

    def _run(self, stream: IO[bytes], size: int, show: int) -> None:
        progress = Progress(self.stderr)
        rejected: list[str] = []
        for batch, line_numbers, unreadable in batches(stream, size):
            for number, error in unreadable:
                rejected.append(f"line {number}: not valid JSON: {error}")
            result = ingest_events(batch) if batch else None
            if result is not None:
                for rejection in result.rejected:
                    rejected.append(f"line {line_numbers[rejection.index]}: {rejection.field}: {rejection.error}")
                progress.add(
                    len(batch) + len(unreadable),
                    result.accepted,
                    result.duplicates,
                    len(result.rejected) + len(unreadable),
                )
            else:
                progress.add(len(unreadable), 0, 0, len(unreadable))
        progress.finish()
        folded = refresh_rollups()
        for line in rejected[:show]:
            self.stderr.write(f"  {line}")
        if len(rejected) > show:
            self.stderr.write(f"  ... and {len(rejected) - show} more")
        self.stdout.write(
            f"{progress.lines:,} lines: {progress.accepted:,} accepted, {progress.duplicates:,} duplicates, "
            f"{progress.rejected:,} rejected; {folded:,} events folded into the rollups."
        )
        if progress.rejected:
            raise CommandError(f"{progress.rejected:,} lines were rejected.", returncode=1)


def batches(stream: IO[bytes], size: int) -> Iterator[tuple[list[object], list[int], list[tuple[int, str]]]]:
    """(records, their line numbers, unreadable lines) in batches of ``size`` records."""
    records: list[object] = []
    numbers: list[int] = []
    unreadable: list[tuple[int, str]] = []
    for number, record in ndjson_records(stream):
        if isinstance(record, Unreadable):
            unreadable.append((number, record.error))
        else:
            records.append(record)
            numbers.append(number)
        if len(records) >= size:
            yield records, numbers, unreadable
            records, numbers, unreadable = [], [], []
    if records or unreadable:
        yield records, numbers, unreadable


class Progress:
    """One status line on stderr, redrawn at most a few times a second."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.lines = self.accepted = self.duplicates = self.rejected = 0
        self.started = self.drawn = time.monotonic()
        self.tty = bool(getattr(out, "isatty", lambda: False)())

    def add(self, lines: int, accepted: int, duplicates: int, rejected: int) -> None:
        self.lines += lines
        self.accepted += accepted
        self.duplicates += duplicates
        self.rejected += rejected
        now = time.monotonic()
        if now - self.drawn >= (0.2 if self.tty else 5.0):
            self.drawn = now
            self._draw(end="\r" if self.tty else "\n")

    def _draw(self, end: str) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        self.out.write(
            f"{self.lines:>12,} lines  {self.accepted:>12,} accepted  {self.duplicates:>9,} duplicates  "
            f"{self.rejected:>9,} rejected  {self.lines / elapsed:>9,.0f} lines/s",
            ending=end,
        )
        self.out.flush()

    def finish(self) -> None:
        self._draw(end="\n")
