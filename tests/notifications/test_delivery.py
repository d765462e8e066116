"""The deliver task against a real HTTP receiver: signing, retries, giving up, no repeats."""

from __future__ import annotations

import logging
import re
import socket
import time
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from opsdash.notifications import delivery as delivery_module
from opsdash.notifications import services
from opsdash.notifications.models import Delivery
from opsdash.notifications.tasks import deliver, resume_stalled
from tests.notifications.conftest import Reply, notice, verify

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick(settings):
    settings.OPSDASH_BASE_URL = "https://opsdash.example.com"
    settings.OPSDASH_WEBHOOK_MAX_ATTEMPTS = 5


def queue(channel, **overrides) -> Delivery:
    return Delivery.objects.create(channel=channel, notice=notice(**overrides))


def run(delivery: Delivery) -> str:
    # apply() runs in this process; a retry comes back at once instead of after its countdown.
    result = deliver.apply(args=(delivery.pk,)).get()
    delivery.refresh_from_db()
    return result


def test_it_posts_a_signed_slack_compatible_body(webhook, receiver):
    channel, secret = webhook
    delivery = queue(channel)

    assert run(delivery) == "delivered"

    [request] = receiver.requests
    assert request.path == "/services/T01/B02/pathtoken123"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Opsdash-Delivery"] == str(delivery.pk)
    assert abs(int(request.headers["X-Opsdash-Timestamp"]) - time.time()) < 10
    assert verify(secret, request)
    assert not verify("whsec_another", request)
    body = request.json()
    assert "Daily budget exceeded" in body["text"]
    assert "https://opsdash.example.com/tenants/acme/" in body["text"]
    assert body["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": "🚨 Daily budget exceeded"}}
    button = body["blocks"][-1]["elements"][0]
    assert button["url"] == "https://opsdash.example.com/tenants/acme/"
    assert body["opsdash"] == {
        **notice(),
        "url": "https://opsdash.example.com/tenants/acme/",
        "delivery_id": delivery.pk,
        "kind": "alert",
    }
    assert (delivery.state, delivery.attempts, delivery.last_response_code) == ("delivered", 1, 200)
    assert delivery.delivered_at is not None


def test_it_refuses_a_tampered_body(webhook, receiver):
    channel, secret = webhook
    run(queue(channel))
    [request] = receiver.requests
    request.body = request.body.replace(b"132.40", b"1.00")
    assert not verify(secret, request)


def test_it_retries_server_errors_and_then_delivers(webhook, receiver):
    channel, secret = webhook
    receiver.reply(500, 503)
    delivery = queue(channel)

    assert run(delivery) == "delivered"

    assert len(receiver.requests) == 3
    assert {r.headers["X-Opsdash-Delivery"] for r in receiver.requests} == {str(delivery.pk)}
    assert len({r.body for r in receiver.requests}) == 1  # every attempt sends the same notice
    assert all(verify(secret, r) for r in receiver.requests)
    assert (delivery.state, delivery.attempts, delivery.last_response_code, delivery.last_error) == (
        "delivered",
        3,
        200,
        "",
    )


def test_it_gives_up_after_the_attempt_limit(webhook, receiver, settings):
    settings.OPSDASH_WEBHOOK_MAX_ATTEMPTS = 3
    channel, _ = webhook
    receiver.always = Reply(500)
    delivery = queue(channel)

    assert run(delivery) == "failed"

    assert len(receiver.requests) == 3
    assert (delivery.state, delivery.attempts, delivery.last_response_code) == ("failed", 3, 500)
    assert delivery.last_error.startswith("gave up after 3 attempts: HTTP 500")


def test_it_does_not_retry_a_client_error(webhook, receiver):
    channel, _ = webhook
    receiver.reply(404)
    delivery = queue(channel)

    assert run(delivery) == "failed"

    assert len(receiver.requests) == 1
    assert (delivery.state, delivery.attempts, delivery.last_response_code) == ("failed", 1, 404)
    assert delivery.last_error.startswith("HTTP 404")
    assert "receiver says no" in delivery.last_error


def test_it_keeps_the_webhook_path_out_of_the_error(webhook, receiver):
    channel, _ = webhook
    receiver.reply(404, body=b"no hook at /services/T01/B02/pathtoken123 here")
    delivery = queue(channel)
    run(delivery)
    assert delivery.last_error == "HTTP 404 Not Found: no hook at … here"


def test_it_retries_when_rate_limited(webhook, receiver):
    channel, _ = webhook
    receiver.reply(429)
    delivery = queue(channel)
    assert run(delivery) == "delivered"
    assert len(receiver.requests) == 2
    assert delivery.attempts == 2


def test_it_does_not_follow_a_redirect(webhook, receiver):
    channel, _ = webhook
    receiver.reply(302, headers={"Location": "https://elsewhere.example.com/hook"})
    delivery = queue(channel)
    assert run(delivery) == "failed"
    assert len(receiver.requests) == 1
    assert "moved to https://elsewhere.example.com/hook" in delivery.last_error


def test_it_waits_longer_after_each_failure(webhook, receiver, settings):
    settings.OPSDASH_WEBHOOK_BACKOFF_SECONDS = 10
    channel, _ = webhook
    receiver.reply(500, 500, 503)
    delivery = queue(channel)
    waits = []
    for _ in range(2):
        before = timezone.now()
        result = delivery_module.attempt(delivery.pk)
        delivery.refresh_from_db()
        assert delivery.state == "pending"
        waits.append(result.retry_in)
        assert delivery.next_attempt_at - before >= timedelta(seconds=result.retry_in)
    assert waits == [10, 20]
    # Retry-After wins when the receiver asks for longer.
    receiver.replies[0].headers = {"Retry-After": "120"}
    assert delivery_module.attempt(delivery.pk).retry_in == 120


def test_it_retries_a_timeout(webhook, receiver, settings):
    settings.OPSDASH_WEBHOOK_TIMEOUT_SECONDS = 0.3
    channel, _ = webhook
    receiver.reply(200, delay=1.5)
    delivery = queue(channel)

    result = delivery_module.attempt(delivery.pk)

    delivery.refresh_from_db()
    assert result.retry_in is not None
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("pending", 1, "timed out")


def test_it_retries_a_refused_connection(alice, settings):
    with socket.socket() as sock:  # a port that nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    channel, _ = services.create_channel(
        acting_user=alice, name="down", kind="webhook", url=f"http://127.0.0.1:{port}/hook"
    )
    delivery = queue(channel)

    result = delivery_module.attempt(delivery.pk)

    delivery.refresh_from_db()
    assert result.retry_in is not None
    assert (delivery.state, delivery.last_error, delivery.last_response_code) == (
        "pending",
        "connection refused",
        None,
    )


def test_it_does_not_send_again_when_the_message_is_redelivered(webhook, receiver):
    channel, _ = webhook
    delivery = queue(channel)
    assert run(delivery) == "delivered"

    assert run(delivery) == "delivered"
    assert run(delivery) == "delivered"

    assert len(receiver.requests) == 1
    assert delivery.attempts == 1


def test_it_does_not_send_while_another_attempt_is_in_flight(webhook, receiver):
    channel, _ = webhook
    delivery = queue(channel)
    # Another worker claimed it a moment ago and is waiting for the receiver.
    Delivery.objects.filter(pk=delivery.pk).update(state="sending", attempts=1, claimed_at=timezone.now())

    assert run(delivery) == "busy"
    assert receiver.requests == []
    assert (delivery.state, delivery.attempts) == ("sending", 1)


def test_it_takes_over_from_a_worker_that_died(webhook, receiver):
    channel, _ = webhook
    delivery = queue(channel)
    Delivery.objects.filter(pk=delivery.pk).update(state="sending", attempts=1, claimed_at=timezone.now())

    with time_machine.travel(timezone.now() + timedelta(seconds=delivery_module.LEASE_SECONDS + 1)):
        assert run(delivery) == "delivered"

    assert len(receiver.requests) == 1
    assert delivery.attempts == 2


def test_it_stops_when_the_channel_is_gone(webhook, receiver):
    channel, _ = webhook
    delivery = queue(channel)
    channel.delete()
    assert deliver.apply(args=(delivery.pk,)).get() == "gone"
    assert receiver.requests == []


def test_it_drops_alerts_for_a_channel_disabled_meanwhile(webhook, receiver, alice):
    channel, _ = webhook
    delivery = queue(channel)
    services.set_enabled(channel, acting_user=alice, enabled=False)

    assert run(delivery) == "failed"

    assert receiver.requests == []
    assert "disabled" in delivery.last_error


def test_it_sends_email_through_the_mail_backend(email_channel):
    # The test environment swaps every mailer for the locmem backend (django.core.mail.outbox).
    delivery = queue(email_channel)

    assert run(delivery) == "delivered"

    [message] = mail.outbox
    assert message.subject == "Daily budget exceeded"
    assert message.to == ["oncall@example.com", "lead@example.com"]
    assert "acme spent $132.40 today" in message.body
    assert "https://opsdash.example.com/tenants/acme/" in message.body
    assert (delivery.state, delivery.attempts) == ("delivered", 1)


def test_it_never_logs_the_secret_or_the_webhook_path(webhook, receiver, caplog, settings):
    settings.OPSDASH_WEBHOOK_MAX_ATTEMPTS = 2
    channel, secret = webhook
    receiver.reply(500, 500)
    caplog.set_level(logging.DEBUG)

    delivery = queue(channel)
    run(delivery)

    assert delivery.state == "failed"
    assert "delivery" in caplog.text
    for leaked in (secret, "pathtoken123"):
        assert leaked not in caplog.text
        assert leaked not in delivery.last_error


def test_the_verifier_in_the_docs_accepts_opsdash_requests_only(webhook, receiver):
    docs = (Path(__file__).resolve().parents[2] / "docs" / "notifications.md").read_text()
    [code] = re.findall(r"```python\n(.*?)```", docs, re.DOTALL)
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - our own documentation
    documented_verify = namespace["verify"]
    channel, secret = webhook
    run(queue(channel))
    [request] = receiver.requests

    assert documented_verify(secret, request.headers, request.body)
    assert not documented_verify(secret, request.headers, request.body + b" ")
    assert not documented_verify("whsec_someone-else", request.headers, request.body)
    stale = {**request.headers, "X-Opsdash-Timestamp": str(int(time.time()) - 3600)}
    assert not documented_verify(secret, stale, request.body)


def test_the_sweeper_resends_deliveries_whose_message_was_lost(webhook, receiver, eager_celery):
    channel, _ = webhook
    lost = queue(channel)  # its message never reached a worker (say the broker was down)
    scheduled = queue(channel)  # its retry message is waiting for its countdown
    now = timezone.now()
    Delivery.objects.filter(pk=lost.pk).update(created_at=now - timedelta(minutes=5))
    Delivery.objects.filter(pk=scheduled.pk).update(
        created_at=now - timedelta(minutes=5), attempts=1, next_attempt_at=now + timedelta(seconds=30)
    )
    fresh = queue(channel)  # just queued: its own message is on the way

    assert resume_stalled.apply().get() == 1

    assert [r.headers["X-Opsdash-Delivery"] for r in receiver.requests] == [str(lost.pk)]
    states = dict(Delivery.objects.values_list("pk", "state"))
    assert states == {lost.pk: "delivered", scheduled.pk: "pending", fresh.pk: "pending"}


def test_the_sweeper_takes_over_from_a_worker_that_died(webhook, receiver, eager_celery):
    channel, _ = webhook
    held = queue(channel)
    Delivery.objects.filter(pk=held.pk).update(state="sending", attempts=1, claimed_at=timezone.now())
    assert resume_stalled.apply().get() == 0

    with time_machine.travel(timezone.now() + timedelta(seconds=delivery_module.LEASE_SECONDS + 1)):
        assert resume_stalled.apply().get() == 1

    held.refresh_from_db()
    assert (held.state, held.attempts, len(receiver.requests)) == ("delivered", 2, 1)
