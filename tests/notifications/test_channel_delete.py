"""POST /settings/channels/<id>/delete/: delete a channel once its name is typed; audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from opsdash.audit.models import AuditEvent
from opsdash.notifications.models import Channel, Delivery
from opsdash.notifications.tasks import deliver
from tests.notifications.conftest import assert_admin_only, notice

pytestmark = pytest.mark.django_db


def url(channel) -> str:
    return reverse("channel-delete", args=[channel.pk])


def test_it_is_for_global_admins_only(client, everyone, webhook):
    assert_admin_only(client, "POST", url(webhook[0]), everyone, 400)  # without the name typed
    assert Channel.objects.exists()


def test_it_deletes_the_channel_and_its_log(client, alice, webhook, receiver):
    channel, secret = webhook
    queued = Delivery.objects.create(channel=channel, notice=notice())
    client.force_login(alice)

    response = client.post(url(channel), {"confirm": "ops hook"})

    assert response.status_code == 302
    assert response["Location"] == reverse("settings-channels")
    assert not Channel.objects.exists()
    assert not Delivery.objects.exists()
    assert deliver.apply(args=(queued.pk,)).get() == "gone"  # its queued message finds nothing
    assert receiver.requests == []
    event = AuditEvent.objects.get(action="channel.delete")
    assert (event.actor, event.object_id, event.before["name"]) == (alice, str(channel.pk), "ops hook")
    assert event.detail == {"deliveries_deleted": 1}
    assert secret not in str(event.before)


def test_it_keeps_the_channel_when_the_name_is_wrong(client, alice, webhook):
    channel, _ = webhook
    client.force_login(alice)
    response = client.post(url(channel), {"confirm": "ops"})
    assert response.status_code == 400
    assert "Type the channel&#x27;s name exactly to delete it." in response.content.decode()
    assert Channel.objects.filter(pk=channel.pk).exists()


def test_it_answers_404_for_a_missing_channel(client, alice):
    client.force_login(alice)
    assert client.post(reverse("channel-delete", args=[999999]), {"confirm": "x"}).status_code == 404
