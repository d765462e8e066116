from __future__ import annotations

import secrets
import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from opsdash.accounts import services
from opsdash.accounts.models import Role


class Command(BaseCommand):
    help = "Create a user with a role, optionally limited to some tenants."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=[r.value for r in Role])
        parser.add_argument("--tenant", action="append", default=[], metavar="SLUG", help="Limit to this tenant.")
        parser.add_argument("--password-stdin", action="store_true", help="Read the password from standard input.")
        parser.add_argument(
            "--password-file",
            help="Use the password in this file; generate one into it when the file does not exist.",
        )
        parser.add_argument("--exists-ok", action="store_true", help="Do nothing if the user exists.")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        try:
            username = services.validate_username(options["username"])
        except services.AccessError as exc:
            raise CommandError(f"invalid username: {exc}") from None
        if get_user_model().objects.filter(username=username).exists():
            if options["exists_ok"]:
                return
            raise CommandError(f"user {username!r} already exists.")
        password: str | None = None
        if options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\n")
            if not password:
                raise CommandError("no password on standard input.")
        elif options["password_file"]:
            path = Path(options["password_file"])
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(secrets.token_urlsafe(12) + "\n")
                path.chmod(0o600)
            password = path.read_text().strip()
        try:
            services.create_user(
                username, acting_user=None, role=options["role"], password=password, tenant_slugs=options["tenant"]
            )
        except ValidationError as exc:
            raise CommandError("password rejected: " + " ".join(exc.messages)) from None
        except (ValueError, services.AccessError) as exc:
            raise CommandError(str(exc)) from None
        scope = ", ".join(options["tenant"]) if options["tenant"] else "all tenants"
        self.stdout.write(f"created {options['role']} {username!r} ({scope}).")
        if password is None:
            self.stdout.write("no password set: set one with `manage.py changepassword`.")
