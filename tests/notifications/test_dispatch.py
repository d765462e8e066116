"""Alert notices reach the channels that want them: enabled, at or above their minimum
severity, for the transitions they chose; the alerts area's signal starts it."""

from __future__ import annotations

import logging
import smtplib

import pytest
from django.core import mail
from django.db import transaction

from opsdash.alerts.signals import alert_changed
from opsdash.notifications import senders, services
from opsdash.notifications.models import Delivery
from opsdash.notifications.receivers import on_alert_changed
from opsdash.notifications.tasks import deliver
from tests.notifications.conftest import notice, verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def channels(alice, receiver):
    def make(name, **options):
        options.setdefault("kind", "webhook")
        if options["kind"] == "webhook":
            options.setdefault("url", receiver.url)
        channel, _ = services.create_channel(acting_user=alice, name=name, **options)
        return channel

    return {
        "all": make("all"),
        "critical": make("critical only", min_severity="critical"),
        "warning": make("warning and up", min_severity="warning"),
        "off": make("disabled", enabled=False),
        "acks": make("acks only", transitions=["acknowledged"]),
        "mail": make("mail", kind="email", recipients=["ops@example.com"]),
    }


def names(ids: list[int]) -> set[str]:
    return {d.channel.name for d in Delivery.objects.filter(pk__in=ids).select_related("channel")}


def test_it_sends_only_to_enabled_channels_that_want_the_severity(channels):
    assert names(services.dispatch(notice(severity="info"))) == {"all", "mail"}
    assert names(services.dispatch(notice(severity="warning"))) == {"all", "warning and up", "mail"}
    assert names(services.dispatch(notice(severity="critical"))) == {
        "all",
        "critical only",
        "warning and up",
        "mail",
    }


def test_it_sends_only_the_transitions_a_channel_chose(channels):
    assert names(services.dispatch(notice(transition="acknowledged", state="acknowledged"))) == {"acks only"}
    assert "acks only" not in names(services.dispatch(notice(transition="resolved", state="resolved")))


def test_it_treats_an_unknown_severity_as_the_highest(channels):
    assert "critical only" in names(services.dispatch(notice(severity="page-everyone")))


def test_it_queues_each_delivery_on_commit(channels, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        ids = services.dispatch(notice())
    assert len(callbacks) == len(ids) == 4
    assert set(Delivery.objects.filter(pk__in=ids).values_list("state", flat=True)) == {"pending"}


def test_the_alert_signal_leads_to_signed_deliveries(alice, receiver, eager_celery, django_capture_on_commit_callbacks):
    channel, secret = services.create_channel(acting_user=alice, name="ops", kind="webhook", url=receiver.url)
    services.create_channel(acting_user=alice, name="mail", kind="email", recipients=["ops@example.com"])

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        alert_changed.send(sender=None, notice=notice(alert_id=7, transition="reopened"))

    [request] = receiver.requests
    assert verify(secret, request)
    assert request.json()["opsdash"]["alert_id"] == 7
    assert request.json()["opsdash"]["transition"] == "reopened"
    assert [m.subject for m in mail.outbox] == ["Daily budget exceeded"]
    assert set(Delivery.objects.values_list("channel__name", "state", "kind")) == {
        ("ops", "delivered", "alert"),
        ("mail", "delivered", "alert"),
    }
    assert channel.deliveries.get().notice["alert_id"] == 7


def test_a_malformed_notice_is_logged_not_raised(channels, caplog):
    caplog.set_level(logging.ERROR)
    responses = alert_changed.send(sender=None, notice={"alert_id": 1})
    assert dict(responses)[on_alert_changed] == []
    assert "needs a title" in caplog.text
    assert not Delivery.objects.exists()


def test_an_email_refused_for_good_is_not_retried(email_channel, monkeypatch):
    def refuse(*args, **kwargs):
        raise smtplib.SMTPRecipientsRefused({"oncall@example.com": (550, b"no such user")})

    monkeypatch.setattr(senders, "send_mail", refuse)
    delivery = Delivery.objects.create(channel=email_channel, notice=notice())
    assert deliver.apply(args=(delivery.pk,)).get() == "failed"
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert "refused" in delivery.last_error


def test_an_unreachable_mail_server_is_retried(email_channel, monkeypatch, settings):
    settings.OPSDASH_WEBHOOK_MAX_ATTEMPTS = 2
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return 1

    monkeypatch.setattr(senders, "send_mail", flaky)
    delivery = Delivery.objects.create(channel=email_channel, notice=notice())
    assert deliver.apply(args=(delivery.pk,)).get() == "delivered"
    delivery.refresh_from_db()
    assert delivery.attempts == 2
