"""errors.burst and safety.spike: a burst or a spike opens one alert and resolves it once,
tiny volumes never fire, titles name the subject, and each alert is seen only by who may."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone

from opsdash.alerts import evaluation
from opsdash.alerts.models import Alert
from opsdash.alerts.selectors import open_alerts
from opsdash.alerts.services import CLEARED, Raised, open_or_keep
from opsdash.safety.models import SafetyFlag
from tests.alerts.conftest import send, spread, unresolved

NOON = dt.datetime(2026, 11, 10, 12, 0, tzinfo=dt.UTC)
STEP = dt.timedelta(minutes=5)
FLASH, MINI = "gemini-2.0-flash", "gpt-4o-mini"


def at(hour: int, minute: int = 0) -> dt.datetime:
    return NOON.replace(hour=hour, minute=minute)


def transitions(notices, alert: Alert) -> list[str]:  # type: ignore[no-untyped-def]
    return [n["transition"] for n in notices if n["alert_id"] == alert.pk]


# --- Error-rate bursts ------------------------------------------------------------------------


def usual_traffic(clock) -> None:  # type: ignore[no-untyped-def]
    """A day of calls to both models, 1 % failing, before the test's hours."""
    clock.at(at(10))
    day = (at(10) - dt.timedelta(days=1), at(10))
    send(
        spread(*day, 297, route="/search", model=FLASH)
        + spread(*day, 3, route="/search", model=FLASH, status="error")
        + spread(*day, 300, route="/chat", model=MINI)
    )


def stream(clock, start: dt.datetime, end: dt.datetime, failing: float, per_step: int = 8) -> None:  # type: ignore[no-untyped-def]
    """Live traffic from ``start`` to ``end``: every 5 minutes the clock moves on, that
    many calls to each model arrive (``failing`` of the flash ones fail), and the rule runs."""
    t = start
    while t < end:
        bad = round(per_step * failing)
        clock.at(t + STEP)
        send(
            spread(t, t + STEP, per_step - bad, route="/search", model=FLASH)
            + (spread(t, t + STEP, bad, route="/search", model=FLASH, status="error") if bad else [])
            + spread(t, t + STEP, per_step, route="/chat", model=MINI)
        )
        evaluation.evaluate(parts=("errors",))
        t += STEP


def test_it_opens_one_alert_for_a_burst_and_resolves_it_once(rollups, acme, clock, notices):
    usual_traffic(clock)
    stream(clock, at(11), at(11, 30), failing=0)
    stream(clock, at(11, 30), at(12, 30), failing=0.75)
    assert set(unresolved("errors.burst").values_list("subject", flat=True)) == {f"model:{FLASH}", "route:/search"}
    model = Alert.objects.get(subject=f"model:{FLASH}")
    assert model.title == f"Error rate 75% on model {FLASH} (baseline 1.0%)"
    assert model.severity == Alert.Severity.CRITICAL
    assert model.tenant is None
    assert model.path.startswith(f"/latency/?by=model&model={FLASH}&range=custom&from=2026-11-10T")
    assert Alert.objects.get(subject="route:/search").title == "Error rate 75% on route /search (baseline 1.0%)"
    # The other model keeps working: no alert about it.
    assert not Alert.objects.filter(subject=f"model:{MINI}").exists()

    # Healthy again: the hour's rate falls under half the threshold to open (10 %), the
    # alerts stay open while it stays there for 30 minutes, then resolve.
    stream(clock, at(12, 30), at(14, 30), failing=0)
    for alert in Alert.objects.filter(rule="errors.burst"):
        assert alert.state == Alert.State.RESOLVED
        assert alert.resolved_reason == "cleared"
        assert transitions(notices, alert) == ["opened", "resolved"]
        # The title keeps the worst rate seen, not the last.
        assert alert.title.startswith("Error rate 75% on ")
    assert Alert.objects.filter(rule="errors.burst").count() == 2


def test_it_needs_fifty_requests_in_the_hour_to_open(rollups, acme, clock):
    clock.at(at(12))
    send(spread(at(11), at(12), 49, route="/search", model=FLASH, status="error"))
    evaluation.evaluate(parts=("errors",))
    assert not Alert.objects.exists()
    send(spread(at(11, 59), at(12), 1, route="/search", model=FLASH, status="error"))
    evaluation.evaluate(parts=("errors",))
    assert set(unresolved().values_list("subject", flat=True)) == {f"model:{FLASH}", "route:/search"}
    # Without a baseline (no earlier traffic), the floor of 20 % applies, and the title says so.
    assert Alert.objects.get(subject=f"model:{FLASH}").title == (
        f"Error rate 100% on model {FLASH} (no baseline: under 50 requests in the 7 days before)"
    )


def test_it_measures_a_burst_against_the_subjects_own_baseline(rollups, acme, clock):
    # A route that usually fails 10 % of its calls: 30 % in an hour is 3x, under the 5x
    # that opens an alert. That hour joins the baseline (13.3 %): 80 % the next hour opens one.
    clock.at(at(10))
    day = (at(10) - dt.timedelta(days=1), at(10))
    send(spread(*day, 270, route="/flaky") + spread(*day, 30, route="/flaky", status="timeout"))
    clock.at(at(11))
    send(spread(at(10), at(11), 42, route="/flaky") + spread(at(10), at(11), 18, route="/flaky", status="error"))
    evaluation.evaluate(parts=("errors",))
    assert not unresolved().filter(subject="route:/flaky").exists()
    clock.at(at(12))
    send(spread(at(11), at(12), 12, route="/flaky") + spread(at(11), at(12), 48, route="/flaky", status="error"))
    evaluation.evaluate(parts=("errors",))
    assert unresolved().get(subject="route:/flaky").title == "Error rate 80% on route /flaky (baseline 13.3%)"


# --- Safety-flag spikes -----------------------------------------------------------------------


def flags(tenant, kind: str, start: dt.datetime, end: dt.datetime, n: int) -> None:  # type: ignore[no-untyped-def]
    step = (end - start) / n
    SafetyFlag.objects.bulk_create(
        SafetyFlag(
            tenant=tenant, ts=start + step * i, event_id=f"f-{kind}-{start:%d%H%M}-{i}", kind=kind, severity="high"
        )
        for i in range(n)
    )


def usual_flags(tenant) -> None:  # type: ignore[no-untyped-def]
    """Two jailbreak attempts a day (14:00 and 18:00) over the week before: 14 in 168 hours."""
    for day in range(1, 8):
        flags(tenant, "jailbreak", at(14) - dt.timedelta(days=day), at(22) - dt.timedelta(days=day), 2)


def wave(clock, tenant, start: dt.datetime, end: dt.datetime, per_step: int) -> None:  # type: ignore[no-untyped-def]
    t = start
    while t < end:
        if per_step:
            flags(tenant, "jailbreak", t, t + STEP, per_step)
        clock.at(t + STEP)
        evaluation.evaluate(parts=("safety",))
        t += STEP


def test_it_opens_one_alert_for_a_spike_and_resolves_it_once(transactional_db, clock, acme, globex, notices):
    usual_flags(acme)
    flags(globex, "jailbreak", at(11), at(12), 3)
    wave(clock, acme, at(12), at(13), per_step=5)  # 60 in the hour
    alert = unresolved().get()
    assert (alert.rule, alert.subject, alert.tenant) == ("safety.spike", f"tenant:{acme.pk}:jailbreak", acme)
    # 20 flags in an hour open it (5x the usual 0.08 an hour is less than that).
    assert alert.opened_at == at(12, 20)
    assert alert.path.startswith("/safety/?tenant=acme&kind=jailbreak&range=custom&from=2026-11-10T09:00")
    # The spike's hour stays in view for the next hour; then the alert is quiet for 30 minutes.
    wave(clock, acme, at(13), at(14, 35), per_step=0)
    alert.refresh_from_db()
    assert alert.state == Alert.State.RESOLVED
    assert alert.resolved_at == at(14, 30)
    assert alert.title == "Safety flags: 60 jailbreak on acme in 1 h (720× baseline)"
    assert transitions(notices, alert) == ["opened", "resolved"]
    assert Alert.objects.count() == 1


def test_it_ignores_a_handful_of_flags(db, clock, acme):
    wave(clock, acme, at(12), at(13), per_step=1)  # 12 in the hour, never seen before
    assert not Alert.objects.exists()


def test_it_keeps_one_spike_alert_while_the_flags_waver(transactional_db, clock, acme, notices):
    # 30, 12, 30, 12 flags in consecutive hours: 12 is under the 20 that opens but above
    # the 10 it holds at, so the alert opened in the first hour stays open throughout.
    for hour, per_step in ((12, 3), (13, 1), (14, 3), (15, 1)):
        wave(clock, acme, at(hour), at(hour + 1), per_step=per_step)
    alert = Alert.objects.get()
    assert alert.state == Alert.State.OPEN
    assert transitions(notices, alert) == ["opened"]


def test_it_shows_a_spike_only_to_those_who_see_its_tenant(db, clock, client, acme, globex, alice, dave, frank):
    wave(clock, acme, at(12), at(13), per_step=5)
    alert = Alert.objects.get()
    client.force_login(dave)  # a viewer of globex
    assert alert.title not in client.get(reverse("alerts")).content.decode()
    assert client.get(reverse("alerts"), {"tenant": "acme"}).status_code == 404
    assert open_alerts(dave) == []
    for user in (frank, alice):  # an operator limited to acme, an admin of every tenant
        client.force_login(user)
        assert alert.title in client.get(reverse("alerts")).content.decode()
        assert [a.title for a in open_alerts(user)] == [alert.title]


def test_it_shows_a_burst_only_to_those_who_see_every_tenant(rollups, acme, clock, carol, dave):
    clock.at(at(12))
    send(spread(at(11), at(12), 60, route="/search", model=FLASH, status="error"))
    evaluation.evaluate(parts=("errors",))
    assert {a.subject_key for a in open_alerts(carol)} == {FLASH, "/search"}
    assert open_alerts(dave) == []


def test_it_keeps_alerts_about_long_route_names_apart_and_reopens_them(db):
    """Producers name routes (up to 200 characters, URL-encoded in links): the alert columns
    hold whatever a rule raises, on opening and on reopening."""
    long_a, long_b = "/api/" + "é" * 190 + "a", "/api/" + "é" * 190 + "b"

    def raised(route: str) -> Raised:
        return Raised(
            rule="errors.burst",
            subject=f"route:{route}",
            severity=Alert.Severity.WARNING,
            title=f"Error rate 40% on route {route} " + "x" * 300,
            detail="",
            path="/latency/?" + urlencode({"by": "route", "route": route}),
        )

    first, _ = open_or_keep(raised(long_a), notify=False)
    second, _ = open_or_keep(raised(long_b), notify=False)
    assert first.pk != second.pk, "two long names that share their first 200 characters stay two alerts"
    assert len(first.title) == 300
    assert first.path == "/latency/", "a link too long to keep loses its query, not its end"
    Alert.objects.filter(pk=first.pk).update(
        state=Alert.State.RESOLVED, resolved_reason=CLEARED, resolved_at=timezone.now()
    )
    again, transition = open_or_keep(raised(long_a), notify=False)
    assert (again.pk, transition) == (first.pk, "reopened")
