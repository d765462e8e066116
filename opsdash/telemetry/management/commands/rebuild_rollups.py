"""Recompute the minute and hour rollups from raw events, e.g. after a repair."""

from __future__ import annotations

import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from opsdash.telemetry import rollups


class Command(BaseCommand):
    help = "Recompute the rollups from raw events (all of them, or from --since on)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--since",
            help="RFC 3339 / ISO 8601 instant (UTC when no offset); rebuilt from its hour on.",
        )

    def handle(self, *args: object, **options: object) -> None:
        since = None
        if options["since"]:
            try:
                since = dt.datetime.fromisoformat(str(options["since"]))
            except ValueError:
                raise CommandError(f"--since {options['since']!r} is not an ISO 8601 timestamp.") from None
            if since.tzinfo is None:
                since = since.replace(tzinfo=dt.UTC)
        started = time.monotonic()
        stats = rollups.rebuild(since)
        rows = ", ".join(f"{table}: {count:,} rows" for table, count in stats.rows.items()) or "no rows"
        where = f"from {since.isoformat()}" if since else "from all raw events"
        self.stdout.write(f"Rebuilt {where}: {stats.events:,} events, {rows} in {time.monotonic() - started:.1f}s.")
