"""Checks run before `make demo` starts its processes, each failing with one sentence."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from opsdash.health import check_broker, check_database
from opsdash.lib.env import redact_url
from opsdash.lib.startup import port_in_use_message


class Command(BaseCommand):
    help = "Check that the database and broker answer and that the web port is free."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=None, help="Also check that this port is free.")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        ok, detail = check_database()
        if not ok:
            where = settings.DATABASE_DESCRIPTION
            raise CommandError(f"cannot reach the {where} ({detail}); check DATABASE_URL or run `make db-reset`.")
        ok, detail = check_broker()
        if not ok:
            raise CommandError(
                f"cannot reach the Celery broker at {redact_url(settings.CELERY_BROKER_URL)} ({detail}); "
                "check CELERY_BROKER_URL, or unset it to use the embedded broker."
            )
        if options["port"]:
            message = port_in_use_message(options["host"], options["port"])
            if message:
                raise CommandError(message.removeprefix("opsdash: "))
        self.stdout.write("preflight: database, broker and port are ready.")
