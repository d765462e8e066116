"""POST /settings/channels/<id>/test/: a test notice, whose result shows in the delivery log."""

from __future__ import annotations

import pytest
from django.urls import reverse

from opsdash.audit.models import AuditEvent
from opsdash.notifications.models import Delivery
from tests.notifications.conftest import assert_admin_only, verify

pytestmark = pytest.mark.django_db


def url(channel) -> str:
    return reverse("channel-send-test", args=[channel.pk])


def test_it_is_for_global_admins_only(client, everyone, webhook):
    assert_admin_only(client, "POST", url(webhook[0]), everyone, 302)


def test_it_sends_a_test_and_shows_the_result(
    client, alice, webhook, receiver, eager_celery, django_capture_on_commit_callbacks
):
    channel, secret = webhook
    client.force_login(alice)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(channel))

    assert response.status_code == 302
    assert response["Location"] == reverse("channel-detail", args=[channel.pk])
    delivery = Delivery.objects.get()
    assert (delivery.kind, delivery.state, delivery.attempts, delivery.last_response_code) == (
        "test",
        "delivered",
        1,
        200,
    )
    [request] = receiver.requests
    assert verify(secret, request)
    body = request.json()
    assert body["opsdash"]["kind"] == "test"
    assert body["opsdash"]["title"] == "Test notification for ops hook"
    assert "alice sent this" in body["opsdash"]["text"]
    html = client.get(response["Location"]).content.decode()
    assert f"Sent test notification #{delivery.pk}" in html
    assert ">Delivered<" in html
    assert '<code data-testid="delivery-code">200</code>' in html
    assert secret not in html
    event = AuditEvent.objects.get(action="channel.send_test")
    assert (event.actor, event.detail) == (alice, {"delivery": delivery.pk})


def test_it_sends_a_test_to_a_disabled_channel(client, alice, webhook, receiver, eager_celery,
                                               django_capture_on_commit_callbacks):  # fmt: skip
    channel, _ = webhook
    channel.enabled = False
    channel.save(update_fields=["enabled"])
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url(channel))
    assert Delivery.objects.get().state == "delivered"
    assert len(receiver.requests) == 1


def test_it_shows_a_failed_test_in_the_log(client, alice, webhook, receiver, eager_celery,
                                           django_capture_on_commit_callbacks):  # fmt: skip
    channel, _ = webhook
    receiver.reply(401)
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(channel))
    html = client.get(response["Location"]).content.decode()
    assert ">Failed<" in html
    assert "HTTP 401" in html


def test_it_answers_404_for_a_missing_channel(client, alice):
    client.force_login(alice)
    assert client.post(reverse("channel-send-test", args=[999999])).status_code == 404
