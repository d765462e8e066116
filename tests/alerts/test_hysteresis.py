"""Hysteresis shared by every rule: an alert resolves only after its condition stayed quiet
for OPSDASH_ALERT_QUIET_MINUTES, so a flapping condition opens it at most once per quiet
period; and the open alerts the overview lists."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.test import override_settings

from opsdash.alerts.evaluation import evaluate
from opsdash.alerts.hysteresis import Report, settle
from opsdash.alerts.models import Alert
from opsdash.alerts.selectors import open_alerts
from opsdash.alerts.services import Raised, acknowledge
from opsdash.tenants.models import Tenant
from tests.alerts.conftest import event, send, unresolved

T0 = dt.datetime(2026, 11, 10, 12, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


def raised(subject: str = "route:/chat", **fields: object) -> Raised:
    values: dict[str, object] = {
        "rule": "errors.burst",
        "subject": subject,
        "severity": "warning",
        "title": f"Error rate 30% on {subject}",
        "detail": "",
        "path": "/latency/?by=route&route=/chat&range=custom&from=2026-11-10T10:00&to=2026-11-10T14:00",
    }
    values.update(fields)
    return Raised(**values)  # type: ignore[arg-type]


def run(series: str, step: dt.timedelta = 5 * MINUTE) -> list[tuple[str, dt.datetime]]:
    """Evaluate a condition that is firing (F), holding (H) or quiet (.) at each step from
    T0; returns the (transition, time) of each opening and resolution."""
    transitions: list[tuple[str, dt.datetime]] = []
    for i, state in enumerate(series):
        now = T0 + i * step
        report = Report()
        current = {a.subject: a for a in unresolved()}
        firing = {"route:/chat": raised()} if state == "F" else {}
        holding: dict[str, Raised | None] = {"route:/chat": None} if state == "H" else {}
        settle(current, firing, holding, now, report, notify=False)
        if report.opened or report.reopened:
            transitions.append(("opened", now))
        if report.resolved:
            transitions.append(("resolved", now))
    return transitions


def test_it_opens_a_flapping_condition_once_and_resolves_it_after_the_quiet_period(db):
    # Firing and quiet by turns every 5 minutes for two hours, then quiet.
    transitions = run("F." * 12 + "." * 8)
    assert transitions == [("opened", T0), ("resolved", T0 + 23 * 5 * MINUTE + 30 * MINUTE)]
    assert Alert.objects.count() == 1


def test_it_opens_at_most_once_per_quiet_period(db):
    # Bursts 35 minutes apart: each gap is longer than the quiet period, so the alert
    # resolves in each and opens again (reopened: the same alert) after it.
    transitions = run(("F" + "." * 7) * 4)
    opened = [t for kind, t in transitions if kind == "opened"]
    assert len(opened) == 4
    assert all(b - a >= dt.timedelta(minutes=30) for a, b in itertools.pairwise(opened))
    assert Alert.objects.count() == 1


def test_it_keeps_an_alert_open_while_its_condition_holds_between_the_thresholds(db):
    assert run("F" + "H" * 30 + "." * 7) == [("opened", T0), ("resolved", T0 + 37 * 5 * MINUTE)]


def test_it_never_opens_on_holding_alone(db):
    assert run("H" * 10) == []


@override_settings(OPSDASH_ALERT_QUIET_MINUTES=0)
def test_it_resolves_at_once_without_a_quiet_period(db):
    assert run("F.F") == [("opened", T0), ("resolved", T0 + 5 * MINUTE), ("opened", T0 + 10 * MINUTE)]


def test_it_refuses_a_bad_quiet_period_at_start_up(tmp_path):
    from tests.lib.test_settings_startup import assert_one_sentence, run_manage

    for value, says in (("soon", "is not a whole number"), ("-5", "below the minimum of 0")):
        result = run_manage(
            "check",
            OPSDASH_DEBUG="1",
            OPSDASH_DATA_DIR=str(tmp_path),
            DATABASE_URL="postgres://u@127.0.0.1:1/x",
            OPSDASH_ALERT_QUIET_MINUTES=value,
        )
        assert_one_sentence(result, "OPSDASH_ALERT_QUIET_MINUTES")
        assert says in result.stderr


# --- Budgets ----------------------------------------------------------------------------------


def test_it_holds_a_budget_alert_near_its_threshold_and_resolves_it_after_a_quiet_stretch(rollups, clock, acme):
    now = clock.at(T0)
    send([event(now - 10 * MINUTE, cost_usd=92.0)])  # 92 % of the daily budget of 100
    evaluate(parts=("budgets",))
    alert = unresolved().get()
    assert alert.level == 90
    # The budget goes up a little: 88 %, within 5 points of the threshold, holds.
    Tenant.objects.filter(pk=acme.pk).update(daily_budget_usd=104.5)
    clock.at(T0 + 5 * MINUTE)
    evaluate(parts=("budgets",))
    alert.refresh_from_db()
    assert (alert.state, alert.quiet_since) == ("open", None)
    # Then a lot: 46 %, quiet; it resolves 30 minutes later and no lower alert opens.
    Tenant.objects.filter(pk=acme.pk).update(daily_budget_usd=200)
    for minutes in (10, 25, 40):
        clock.at(T0 + minutes * MINUTE)
        evaluate(parts=("budgets",))
    alert.refresh_from_db()
    assert alert.state == "resolved"
    assert alert.resolved_at == T0 + 40 * MINUTE
    assert Alert.objects.count() == 1


# --- The open alerts the overview lists -------------------------------------------------------


def alert(subject: str, severity: str = "warning", opened_at: dt.datetime = T0, **fields: object) -> Alert:
    return Alert.objects.create(
        rule=str(fields.pop("rule", "errors.burst")),
        subject=subject,
        severity=severity,
        title=f"About {subject}",
        path=str(fields.pop("path", f"/latency/?route={subject}")),
        opened_at=opened_at,
        **fields,
    )


def test_it_lists_open_alerts_most_severe_then_newest_with_ties_by_id(db, alice, bob):
    info = alert("route:/a", "info", T0 + 3 * MINUTE)
    old_warning = alert("route:/b", "warning", T0)
    tie_first = alert("route:/c", "warning", T0 + MINUTE)
    tie_second = alert("route:/d", "warning", T0 + MINUTE)
    critical = alert("route:/e", "critical", T0)
    acked = alert("route:/f", "critical", T0 + 2 * MINUTE)
    acknowledge(acked, acting_user=bob)
    alert("route:/g", "critical", T0 + 4 * MINUTE, state="resolved")
    listed = open_alerts(alice)
    assert [a.pk for a in listed] == [critical.pk, acked.pk, tie_second.pk, tie_first.pk, old_warning.pk, info.pk]
    assert [a.pk for a in open_alerts(alice, limit=2)] == [critical.pk, acked.pk]
    assert listed[1].state == "acknowledged"


def test_it_names_each_open_alerts_subject(db, alice, acme):
    alert("model:gemini-2.0-flash")
    alert(f"tenant:{acme.pk}:jailbreak", rule="safety.spike", tenant=acme)
    alert(f"tenant:{acme.pk}", rule="budget.daily", tenant=acme, opened_at=T0 - MINUTE)
    alert("prompt:support-reply@v8", rule="eval.failing", opened_at=T0 - 2 * MINUTE)
    subjects = [(a.subject_kind, a.subject_key) for a in open_alerts(alice)]
    assert subjects == [
        ("flags", "acme:jailbreak"),
        ("model", "gemini-2.0-flash"),
        ("tenant", "acme"),
        ("prompt", "support-reply@v8"),
    ]


def test_it_lists_only_the_chosen_tenants_alerts(db, alice, acme, globex):
    alert("route:/a", tenant=acme)
    alert("route:/b", tenant=globex)
    alert("route:/c")
    assert [a.subject_key for a in open_alerts(alice, tenant=acme)] == ["/a"]
    assert [a.tenant_slug for a in open_alerts(alice, tenant=globex)] == ["globex"]


@pytest.mark.parametrize(
    ("path", "link"),
    [
        # An alert still open: its window reaches the present hour.
        (
            "/latency/?by=model&model=m&range=custom&from=2026-11-10T07:00&to=2026-11-10T12:00",
            "/latency/?by=model&model=m&range=custom&from=2026-11-10T07:00&to=2026-11-10T15:00",
        ),
        # A window already past the present hour is left alone.
        (
            "/safety/?tenant=acme&range=custom&from=2026-11-10T12:00&to=2026-11-10T16:00",
            "/safety/?tenant=acme&range=custom&from=2026-11-10T12:00&to=2026-11-10T16:00",
        ),
        # An alert open for days: its whole time, read per hour.
        (
            "/latency/?route=/chat&range=custom&from=2026-11-06T10:00&to=2026-11-06T14:00",
            "/latency/?route=/chat&range=custom&from=2026-11-06T10:00&to=2026-11-10T15:00",
        ),
        ("/cost/?tenant=acme&range=24h", "/cost/?tenant=acme&range=24h"),
    ],
)
def test_it_links_each_open_alert_to_its_window(db, clock, alice, path, link):
    clock.at(T0 + 2 * dt.timedelta(hours=1) + 10 * MINUTE)  # 14:10
    alert("route:/chat", path=path)
    assert [a.link for a in open_alerts(alice)] == [link]
