"""POST /settings/channels/<id>/rotate-secret/: a new signing secret, shown once."""

from __future__ import annotations

import pytest
from django.urls import reverse

from opsdash.audit.models import AuditEvent
from opsdash.notifications.models import Delivery
from opsdash.notifications.tasks import deliver
from tests.notifications.conftest import assert_admin_only, notice, verify

pytestmark = pytest.mark.django_db


def url(channel) -> str:
    return reverse("channel-rotate-secret", args=[channel.pk])


def test_it_is_for_global_admins_only(client, everyone, webhook):
    assert_admin_only(client, "POST", url(webhook[0]), everyone, 200)


def test_it_shows_a_new_secret_once_and_signs_with_it(client, alice, webhook, receiver):
    channel, old = webhook
    client.force_login(alice)

    response = client.post(url(channel))

    channel.refresh_from_db()
    new = channel.secret
    assert new != old
    assert f'value="{new}"' in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    assert new not in client.get(reverse("channel-detail", args=[channel.pk])).content.decode()
    deliver.apply(args=(Delivery.objects.create(channel=channel, notice=notice()).pk,))
    [request] = receiver.requests
    assert verify(new, request)
    assert not verify(old, request)
    event = AuditEvent.objects.get(action="channel.rotate_secret")
    assert event.actor == alice
    assert new not in str(event.before) + str(event.after) + str(event.detail)


def test_it_refuses_an_email_channel(client, alice, email_channel):
    client.force_login(alice)
    response = client.post(url(email_channel))
    assert response.status_code == 400
    assert "Only webhook channels have a signing secret." in response.content.decode()


def test_it_answers_404_for_a_missing_channel(client, alice):
    client.force_login(alice)
    assert client.post(reverse("channel-rotate-secret", args=[999999])).status_code == 404
