"""The notice every alert transition sends (signals.alert_changed), on commit only."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from opsdash.alerts.services import Raised, acknowledge, open_or_keep, resolve
from tests.alerts.conftest import NOTICE_KEYS

pytestmark = pytest.mark.django_db


def raised(tenant) -> Raised:  # type: ignore[no-untyped-def]
    return Raised(
        rule="budget.daily",
        subject=f"tenant:{tenant.pk}",
        severity="warning",
        title="acme: 92 % of the daily budget used ($92.00 of $100.00)",
        detail="acme has spent $92.00 today.",
        path="/cost/?tenant=acme&range=24h",
        tenant=tenant,
        period="2026-11-10",
        level=90,
    )


def test_it_sends_the_documented_keys_on_every_transition(acme, bob, notices, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        alert, transition = open_or_keep(raised(acme))
    assert transition == "opened"
    with django_capture_on_commit_callbacks(execute=True):
        acknowledge(alert, acting_user=bob)
    with django_capture_on_commit_callbacks(execute=True):
        resolve(alert, reason="cleared")
    assert [set(n) for n in notices] == [NOTICE_KEYS] * 3
    first = notices[0]
    assert first == {
        "alert_id": alert.pk,
        "state": "open",
        "transition": "opened",
        "rule": "budget.daily",
        "severity": "warning",
        "title": "acme: 92 % of the daily budget used ($92.00 of $100.00)",
        "text": "acme has spent $92.00 today.",
        "path": "/cost/?tenant=acme&range=24h",
        "tenant": "acme",
        "opened_at": alert.opened_at.isoformat(),
    }
    assert dt.datetime.fromisoformat(first["opened_at"]).utcoffset() == dt.timedelta(0)
    assert [(n["transition"], n["state"]) for n in notices] == [
        ("opened", "open"), ("acknowledged", "acknowledged"), ("resolved", "resolved"),
    ]  # fmt: skip


def test_it_sends_nothing_for_a_kept_alert_or_a_rolled_back_one(acme, notices, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        open_or_keep(raised(acme))
        _, transition = open_or_keep(raised(acme))
    assert transition is None
    assert len(notices) == 1

    class Abort(Exception):
        pass

    def resolve_then_fail() -> None:
        with transaction.atomic():
            resolve(open_or_keep(raised(acme))[0], reason="cleared")
            raise Abort

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Abort):
        resolve_then_fail()
    assert len(notices) == 1


def test_a_failing_receiver_neither_undoes_nor_blocks_the_transition(acme, notices, django_capture_on_commit_callbacks):
    from opsdash.alerts.models import Alert
    from opsdash.alerts.signals import alert_changed

    def broken(**kwargs: object) -> None:
        raise RuntimeError("mail server down")

    alert_changed.connect(broken, dispatch_uid="tests-broken-receiver")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            alert, _ = open_or_keep(raised(acme))
    except RuntimeError:
        pytest.fail("a receiver's failure reached the evaluation")
    finally:
        alert_changed.disconnect(dispatch_uid="tests-broken-receiver")
    assert Alert.objects.filter(pk=alert.pk, state="open").exists()
