from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from opsdash.audit.models import AuditEvent
from opsdash.audit.selectors import chain_status


class Command(BaseCommand):
    help = "Recompute the audit hash chain; exit 0 when intact, else name the first bad row."

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        broken = chain_status()
        if broken is not None:
            raise CommandError(f"audit chain broken at row {broken.row_id}: {broken.reason}.")
        self.stdout.write(f"audit chain intact ({AuditEvent.objects.count()} rows).")
