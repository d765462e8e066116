"""/settings/channels/<id>/deliveries/: the delivery log alone, which the page polls."""

from __future__ import annotations

import pytest
from django.urls import reverse

from opsdash.notifications.models import Delivery
from tests.notifications.conftest import assert_admin_only, notice

pytestmark = pytest.mark.django_db


def url(channel) -> str:
    return reverse("channel-deliveries", args=[channel.pk])


def test_it_is_for_global_admins_only(client, everyone, webhook):
    assert_admin_only(client, "GET", url(webhook[0]), everyone, 200)


def test_it_answers_the_log_alone_and_stops_polling_when_done(client, alice, webhook):
    channel, secret = webhook
    delivery = Delivery.objects.create(channel=channel, notice=notice(), kind="test")
    client.force_login(alice)

    pending = client.get(url(channel), headers={"HX-Request": "true"}).content.decode()
    assert pending.lstrip().startswith('<section id="deliveries"')
    assert "<html" not in pending
    assert "hx-trigger" in pending
    assert ">Pending<" in pending

    Delivery.objects.filter(pk=delivery.pk).update(state="delivered", attempts=1, last_response_code=200)
    done = client.get(url(channel)).content.decode()
    assert "hx-trigger" not in done
    assert ">Delivered<" in done
    assert "200" in done
    assert secret not in done


def test_it_answers_404_for_a_missing_channel(client, alice):
    client.force_login(alice)
    assert client.get(reverse("channel-deliveries", args=[999999])).status_code == 404
