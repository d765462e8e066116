"""Budget alerts: thresholds crossed once per period, roll-over, and the hard stop."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest

from opsdash.actions import services as actions
from opsdash.actions.models import ActionRun
from opsdash.alerts.evaluation import evaluate
from opsdash.alerts.models import Alert
from opsdash.audit.models import AuditEvent
from opsdash.tenants.models import Tenant
from tests.alerts.conftest import NOTICE_KEYS, event, send, unresolved

UTC = dt.UTC
DAY = dt.datetime(2026, 11, 10, tzinfo=UTC)


def spend(at: dt.datetime, usd: float, tenant: str = "acme") -> None:
    send([event(at, tenant, cost_usd=usd)])


def levels(rule: str = "budget.daily") -> list[int]:
    return list(Alert.objects.filter(rule=rule).order_by("opened_at", "id").values_list("level", flat=True))


def test_it_raises_each_threshold_once_and_keeps_one_alert_per_tenant(rollups, clock, acme, notices):
    # acme: $100 a day, $2,500 a month.
    now = clock.at(DAY.replace(hour=10))
    spend(now - dt.timedelta(minutes=30), 50)
    evaluate()
    assert not Alert.objects.exists()

    for usd, level in ((25, 70), (20, 90), (10, 100)):
        now = clock.at(now + dt.timedelta(minutes=10))
        spend(now - dt.timedelta(minutes=2), usd)
        for _ in range(3):
            evaluate()
            now = clock.at(now + dt.timedelta(minutes=1))
        current = unresolved().get()
        assert (current.rule, current.level, current.period) == ("budget.daily", level, "2026-11-10")
    assert levels() == [70, 90, 100]
    superseded = Alert.objects.filter(level__in=[70, 90])
    assert {a.resolved_reason for a in superseded} == {"superseded by the 90 % alert", "superseded by the 100 % alert"}
    top = unresolved().get()
    assert top.severity == Alert.Severity.CRITICAL
    assert top.title == "acme: 105 % of the daily budget used ($105.00 of $100.00)"
    assert top.path == "/cost/?tenant=acme&range=24h"
    assert "Hard stop is off" in top.detail
    # Three alerts opened, two resolved: one notice each, sent with the documented keys.
    assert [(n["transition"], n["state"]) for n in notices] == [
        ("opened", "open"), ("resolved", "resolved"), ("opened", "open"), ("resolved", "resolved"), ("opened", "open"),
    ]  # fmt: skip
    assert all(set(n) == NOTICE_KEYS for n in notices)
    assert notices[-1]["tenant"] == "acme"
    assert notices[-1]["rule"] == "budget.daily"
    assert Tenant.objects.get(slug="acme").status == Tenant.Status.ACTIVE


def test_it_raises_only_the_highest_threshold_crossed_at_once(rollups, clock, acme):
    now = clock.at(DAY.replace(hour=10))
    spend(now - dt.timedelta(minutes=5), 95)
    evaluate()
    assert levels() == [90]


def test_it_starts_each_day_afresh(rollups, clock, acme):
    now = clock.at(DAY.replace(hour=22))
    spend(now - dt.timedelta(minutes=5), 95)
    evaluate()
    yesterday = unresolved().get()
    assert yesterday.level == 90

    now = clock.at(DAY + dt.timedelta(days=1, minutes=5))
    evaluate()
    yesterday.refresh_from_db()
    assert yesterday.state == Alert.State.RESOLVED
    assert yesterday.resolved_reason == "the day 2026-11-10 ended"
    assert not unresolved().exists()

    spend(now - dt.timedelta(minutes=2), 75)
    evaluate()
    today = unresolved().get()
    assert (today.level, today.period) == (70, "2026-11-11")


def test_it_starts_each_month_afresh(rollups, clock, db):
    Tenant.objects.create(slug="umbra", name="Umbra", monthly_budget_usd=100)
    now = clock.at(dt.datetime(2026, 10, 31, 22, 0, tzinfo=UTC))
    spend(now - dt.timedelta(hours=3), 40, "umbra")
    spend(now - dt.timedelta(minutes=5), 55, "umbra")
    evaluate()
    october = unresolved().get()
    assert (october.rule, october.level, october.period) == ("budget.monthly", 90, "2026-10")
    assert october.path == "/cost/?tenant=umbra&range=30d"

    now = clock.at(dt.datetime(2026, 11, 1, 0, 10, tzinfo=UTC))
    evaluate()
    october.refresh_from_db()
    assert october.state == Alert.State.RESOLVED
    assert october.resolved_reason == "the month 2026-10 ended"
    spend(now - dt.timedelta(minutes=5), 72, "umbra")
    evaluate()
    november = unresolved().get()
    assert (november.level, november.period) == (70, "2026-11")


# --- Hard stop ------------------------------------------------------------------------------


@pytest.fixture
def stopped(rollups, clock, acme, eager_celery):
    """acme with hard stop on, paused by it at 10:00 after spending $120 of its $100 day."""
    acme.hard_stop = True
    acme.save(update_fields=["hard_stop"])
    now = clock.at(DAY.replace(hour=10))
    spend(now - dt.timedelta(minutes=5), 120)
    evaluate()
    return now


def test_it_pauses_the_tenant_at_100_percent_with_the_system_as_actor(stopped, clock):
    acme = Tenant.objects.get(slug="acme")
    assert acme.status == Tenant.Status.PAUSED
    assert "Budget hard stop: acme used 120 % of its daily budget" in acme.paused_reason
    run = ActionRun.objects.get()
    assert (run.kind, run.requested_by, run.state) == ("pause_tenant", None, ActionRun.State.SUCCEEDED)
    alert = unresolved().get()
    assert alert.hard_stop_run == run
    requested = AuditEvent.objects.get(action="action.requested")
    assert (requested.actor, requested.actor_label) == (None, "system")
    assert requested.detail["reason"].startswith("Budget hard stop: acme used 120 %")
    pause = AuditEvent.objects.get(action="tenant.pause")
    assert (pause.actor, pause.actor_label) == (None, "system")
    assert pause.after["reason"] == acme.paused_reason

    # Later evaluations the same day do not ask again.
    for minutes in (1, 2, 30):
        clock.at(stopped + dt.timedelta(minutes=minutes))
        evaluate()
    assert ActionRun.objects.count() == 1


def test_it_resumes_the_tenant_when_the_day_is_over(stopped, clock):
    clock.at(DAY + dt.timedelta(days=1, minutes=1))
    evaluate()
    acme = Tenant.objects.get(slug="acme")
    assert acme.status == Tenant.Status.ACTIVE
    resume = ActionRun.objects.get(kind="resume_tenant")
    assert (resume.requested_by, resume.state) == (None, ActionRun.State.SUCCEEDED)
    audit = AuditEvent.objects.get(action="tenant.resume")
    assert (audit.actor, audit.actor_label) == (None, "system")
    assert audit.detail["reason"].startswith("The day 2026-11-10 is over: lifting the budget hard stop")
    # Once.
    clock.at(DAY + dt.timedelta(days=1, minutes=2))
    evaluate()
    assert ActionRun.objects.filter(kind="resume_tenant").count() == 1


def _by_hand(kind: str, user, reason: str) -> None:  # type: ignore[no-untyped-def]
    acme = Tenant.objects.get(slug="acme")
    actions.request_run(
        acme, kind, acting_user=user, parameters={"reason": reason}, idempotency_key=secrets.token_urlsafe(16)
    )


@pytest.mark.parametrize("paused_again", [False, True], ids=["resumed", "resumed-then-paused"])
def test_it_leaves_a_tenant_alone_that_someone_resumed_or_paused_by_hand(stopped, clock, bob, paused_again):
    clock.at(stopped + dt.timedelta(minutes=20))
    _by_hand("resume_tenant", bob, "the customer raised their budget by phone")
    if paused_again:
        clock.at(stopped + dt.timedelta(minutes=40))
        _by_hand("pause_tenant", bob, "investigating a leaked key")
    # Still over budget the same day: the hard stop does not overrule bob.
    clock.at(stopped + dt.timedelta(hours=1))
    evaluate()
    assert Tenant.objects.get(slug="acme").is_paused == paused_again

    clock.at(DAY + dt.timedelta(days=1, minutes=1))
    evaluate()
    acme = Tenant.objects.get(slug="acme")
    assert acme.is_paused == paused_again
    if paused_again:
        assert acme.paused_reason == "investigating a leaked key"
    assert not ActionRun.objects.filter(kind="resume_tenant", requested_by=None).exists()
    kept = AuditEvent.objects.get(action="alert.hard_stop_kept")
    assert kept.actor_label == "system"
    assert "resumed or paused by hand" in kept.detail["outcome"]


def test_it_hands_the_pause_to_the_monthly_budget_when_that_is_used_up_too(rollups, clock, db, eager_celery):
    Tenant.objects.create(slug="acme", name="Acme", daily_budget_usd=100, monthly_budget_usd=150, hard_stop=True)
    now = clock.at(DAY.replace(hour=10))
    spend(now - dt.timedelta(minutes=5), 160)
    evaluate()
    assert Tenant.objects.get(slug="acme").is_paused
    assert ActionRun.objects.count() == 1

    clock.at(DAY + dt.timedelta(days=1, minutes=1))
    evaluate()
    assert Tenant.objects.get(slug="acme").is_paused
    monthly = unresolved("budget.monthly").get()
    assert monthly.hard_stop_run == ActionRun.objects.get()
    assert ActionRun.objects.count() == 1

    clock.at(dt.datetime(2026, 12, 1, 0, 1, tzinfo=UTC))
    evaluate()
    assert not Tenant.objects.get(slug="acme").is_paused
    assert AuditEvent.objects.get(action="tenant.resume").detail["reason"].startswith("The month 2026-11 is over")


def test_it_does_not_pause_without_hard_stop(rollups, clock, acme):
    now = clock.at(DAY.replace(hour=10))
    spend(now - dt.timedelta(minutes=5), 130)
    evaluate()
    assert unresolved().get().level == 100
    assert not ActionRun.objects.exists()
    assert Tenant.objects.get(slug="acme").status == Tenant.Status.ACTIVE
