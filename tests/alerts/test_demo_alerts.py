"""seed_demo's replay: the error burst and the jailbreak wave raise their alerts, and no
alert of the demo opens and resolves more than once (hysteresis)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from opsdash.alerts.models import Alert
from opsdash.audit.models import AuditEvent
from opsdash.core.demo.generator import DemoSizes, floor_hour, generate
from tests.telemetry.factories import truncate_raw

SIZES = DemoSizes(tenants=4, days=3, events=10_000)


def _flush() -> None:
    truncate_raw()
    call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """The small demo loaded once for this module (committed, so the rollups fold it)."""
    anchor = floor_hour(timezone.now())
    with django_db_blocker.unblock():
        _flush()
        call_command(
            "seed_demo", "--tenants", "4", "--days", "3", "--events", "10000", "--anchor", anchor.isoformat(),
            stdout=StringIO(),
        )  # fmt: skip
        yield generate(42, anchor, SIZES)
        _flush()


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def test_it_raises_an_alert_for_the_error_burst(demo, db):
    story = demo.story
    alert = Alert.objects.get(rule="errors.burst", subject=f"model:{story.burst_model}")
    assert _at(story.burst.start_ms) <= alert.opened_at < _at(story.burst.end_ms) + timedelta(hours=1)
    assert alert.title.startswith("Error rate ")
    assert f" on model {story.burst_model} (baseline " in alert.title
    assert alert.state == Alert.State.RESOLVED
    assert alert.path.startswith(f"/latency/?by=model&model={story.burst_model}&range=custom")


def test_it_raises_an_alert_for_the_jailbreak_wave(demo, db):
    story = demo.story
    slug = demo.slugs[story.wave_tenant]
    alert = Alert.objects.get(rule="safety.spike", subject__endswith=":jailbreak")
    assert alert.tenant.slug == slug
    assert _at(story.wave.start_ms) <= alert.opened_at < _at(story.wave.end_ms)
    assert alert.title.startswith("Safety flags: ")
    assert f" jailbreak on {slug} in 1 h (" in alert.title
    assert alert.path.startswith(f"/safety/?tenant={slug}&kind=jailbreak&range=custom")


def test_it_opens_and_resolves_each_alert_of_the_demo_at_most_once(demo, db):
    alerts = Alert.objects.all()
    assert alerts.count() >= 5  # SLO burn, error burst, jailbreak wave, budget, eval
    assert max(Counter(alerts.values_list("rule", "subject")).values()) == 1
    events = AuditEvent.objects.filter(action__startswith="alert.")
    assert not events.filter(action="alert.reopened").exists()
    per_alert = Counter(events.values_list("object_id", "action"))
    assert max(per_alert.values()) == 1
