from __future__ import annotations

from django.core.management.base import BaseCommand

from opsdash.accounts import services
from opsdash.accounts.models import ApiToken


class Command(BaseCommand):
    help = "Create an ingest or gateway token and print its secret once."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--kind", required=True, choices=[k.value for k in ApiToken.Kind])
        parser.add_argument("--name", required=True)

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        token, secret = services.create_token(acting_user=None, kind=options["kind"], name=options["name"])
        self.stderr.write(f"{token.kind} token {token.name!r} created; the secret is shown only now:")
        self.stdout.write(secret)
