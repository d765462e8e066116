from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand

from opsdash.audit import checkpoints


class Command(BaseCommand):
    help = "Append a signed checkpoint of the audit chain (row count, last hash) to the checkpoint file and the log."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--file", type=Path, default=None, help="Default: OPSDASH_AUDIT_CHECKPOINT_FILE.")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        checkpoint = checkpoints.write(options["file"])
        self.stdout.write(json.dumps(checkpoint, sort_keys=True))
