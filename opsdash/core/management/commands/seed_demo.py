"""Load realistic, deterministic demo data with stories in it (see opsdash/core/demo/)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from opsdash.core.demo import catalog
from opsdash.core.demo.alerts import seed_alerts
from opsdash.core.demo.generator import DemoSizes, floor_hour, generate
from opsdash.core.demo.load import DemoLoadError, load
from opsdash.tenants.models import Tenant

LIMITS = {"tenants": (1, 500), "days": (1, 365), "events": (1_000, 20_000_000)}


def _anchor(value: str | None) -> datetime:
    now = timezone.now()
    if value is None:
        return floor_hour(now)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--anchor {value!r} is not an ISO 8601 time such as 2026-11-20T15:00+00:00") from None
    if parsed.tzinfo is None:
        raise CommandError(f"--anchor {value!r} needs a UTC offset, such as 2026-11-20T15:00+00:00")
    if parsed > now:
        raise CommandError(f"--anchor {value!r} is in the future; events may not be")
    return floor_hour(parsed)


class Command(BaseCommand):
    help = (
        "Create demo tenants, keys, prices and documents, and send demo traffic and eval results through "
        "the ingest path: a latency incident, an error burst, a tenant over budget, a jailbreak wave and a "
        "failing prompt release. Same seed and anchor, same data."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = DemoSizes()
        parser.add_argument(
            "--tenants", type=int, default=defaults.tenants, help=f"number of tenants (default {defaults.tenants})"
        )
        parser.add_argument(
            "--days", type=int, default=defaults.days, help=f"days of traffic (default {defaults.days})"
        )
        parser.add_argument(
            "--events",
            type=int,
            default=defaults.events,
            help=f"about this many request events (default {defaults.events:,})",
        )
        parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
        parser.add_argument(
            "--anchor",
            default=None,
            help="end of the time range, rounded down to the hour (default: now); with --seed it reproduces a data set",
        )
        parser.add_argument("--if-empty", action="store_true", help="do nothing when tenants already exist")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        if options["if_empty"] and Tenant.objects.exists():
            self.stdout.write("seed_demo: tenants already exist; leaving the data as it is.")
            return
        for name, (low, high) in LIMITS.items():
            if not low <= options[name] <= high:
                raise CommandError(f"--{name} must be between {low:,} and {high:,}, got {options[name]:,}")
        sizes = DemoSizes(tenants=options["tenants"], days=options["days"], events=options["events"])
        anchor = _anchor(options["anchor"])
        # Ingest refuses events past the retention; keep an hour's slack for a slow load.
        oldest_allowed = timezone.now() - timedelta(days=settings.OPSDASH_EVENT_RETENTION_DAYS) + timedelta(hours=1)
        if anchor - timedelta(days=sizes.days) < oldest_allowed:
            raise CommandError(
                f"--days {sizes.days} from {anchor:%Y-%m-%d %H:%M} reaches past the event retention of "
                f"{settings.OPSDASH_EVENT_RETENTION_DAYS} days (OPSDASH_EVENT_RETENTION_DAYS); use fewer days "
                "or a later --anchor"
            )
        slugs = [catalog.tenant_profile(t).slug for t in range(sizes.tenants)]
        taken = sorted(Tenant.objects.filter(slug__in=slugs).values_list("slug", flat=True))
        if taken:
            raise CommandError(
                f"tenant(s) {', '.join(taken)} already exist; seed an empty database (make db-reset) "
                "or pass --if-empty to keep the data you have"
            )

        started = time.monotonic()
        say = self.stdout.write
        say(
            f"seed_demo: generating {sizes.tenants} tenants, {sizes.days} days, ~{sizes.events:,} events "
            f"(seed {options['seed']}, anchor {anchor.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"
        )
        data = generate(options["seed"], anchor, sizes)
        say(
            f"  generated {data.event_count:,} events, {len(data.eval_results):,} eval results, "
            f"{len(data.documents):,} documents in {time.monotonic() - started:.1f}s"
        )
        try:
            report = load(data, say)
        except DemoLoadError as exc:
            raise CommandError(str(exc)) from exc
        alerts = seed_alerts(data, say)
        say(
            f"seed_demo: stored {report.events:,} events ({report.event_duplicates:,} duplicates) and "
            f"{report.eval_results:,} eval results in {time.monotonic() - started:.1f}s. Stories to find:"
        )
        for line in data.summary():
            say(f"  - {line}")
        unpriced = [f"{m.name} ({m.provider})" for m in catalog.MODELS if m.input_usd_per_mtok is None]
        say(f"  - unknown cost: {', '.join(unpriced)} has no price, so its cost shows as unknown — see /cost/")
        say(
            f"  - alerts: {len(alerts.open)} open ({'; '.join(alerts.open) or 'none'}); {len(alerts.resolved)} "
            f"resolved ({'; '.join(alerts.resolved) or 'none'}) — see /alerts/"
        )
