from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from opsdash.audit.services import verify_chain


class Command(BaseCommand):
    help = (
        "Check the audit chain's signatures and hold it against the signed checkpoints; exit 0 when "
        "intact, else name the first bad row."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--checkpoints",
            type=Path,
            default=None,
            help="Checkpoint file to hold the chain against (default: OPSDASH_AUDIT_CHECKPOINT_FILE).",
        )
        parser.add_argument(
            "--strict",
            action="store_true",
            help="Fail as well when no recent checkpoint covers the chain (for scheduled checks in production).",
        )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        report = verify_chain(options["checkpoints"])
        if report.broken is not None:
            where = f"at row {report.broken.row_id}" if report.broken.row_id is not None else "in its checkpoints"
            raise CommandError(f"audit chain broken {where}: {report.broken.reason}.")
        for warning in report.warnings:
            self.stderr.write(f"warning: {warning}.")
        if options["strict"] and report.warnings:
            raise CommandError(f"audit chain not fully verified: {report.warnings[0]}.")
        notes = "".join(f"; {note}" for note in report.notes)
        self.stdout.write(
            f"audit chain intact ({report.rows} rows, {report.checkpoints_checked} checkpoint(s) hold){notes}."
        )
