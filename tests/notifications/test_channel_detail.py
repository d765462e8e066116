"""/settings/channels/<id>/: the channel and its delivery log."""

from __future__ import annotations

import pytest
from django.urls import reverse

from opsdash.notifications.models import Delivery
from tests.notifications.conftest import assert_admin_only, notice

pytestmark = pytest.mark.django_db


def url(channel) -> str:
    return reverse("channel-detail", args=[channel.pk])


def test_it_is_for_global_admins_only(client, everyone, webhook):
    assert_admin_only(client, "GET", url(webhook[0]), everyone, 200)


def test_it_answers_404_for_a_missing_channel(client, alice):
    client.force_login(alice)
    assert client.get(reverse("channel-detail", args=[999999])).status_code == 404


def test_it_shows_the_delivery_log_with_codes_attempts_and_errors(client, alice, webhook):
    channel, secret = webhook
    Delivery.objects.create(channel=channel, notice=notice(title="Error rate above SLO"), state="delivered",
                            attempts=2, last_response_code=200)  # fmt: skip
    Delivery.objects.create(channel=channel, notice=notice(title="p95 latency burn"), state="failed", attempts=1,
                            last_response_code=404, last_error="HTTP 404 Not Found: no such hook")  # fmt: skip
    client.force_login(alice)

    html = client.get(url(channel)).content.decode()

    assert "Error rate above SLO" in html
    assert "p95 latency burn" in html
    assert ">Delivered<" in html
    assert ">Failed<" in html
    assert "HTTP 404 Not Found: no such hook" in html
    assert '<code data-testid="delivery-code">404</code>' in html
    assert secret not in html
    assert "pathtoken123" not in html
    assert "Send test" in html
    assert "Rotate secret" in html


def test_it_pages_the_log(client, alice, webhook):
    channel, _ = webhook
    Delivery.objects.bulk_create(
        Delivery(channel=channel, notice=notice(title=f"alert {i:02d}"), state="delivered") for i in range(30)
    )
    client.force_login(alice)
    first = client.get(url(channel)).content.decode()
    second = client.get(url(channel) + "?page=2").content.decode()
    assert "alert 29" in first
    assert "alert 00" not in first
    assert "alert 00" in second
    assert "alert 29" not in second
    assert "Page 1 of 2" in first


def test_it_polls_while_a_delivery_is_on_its_way(client, alice, webhook):
    channel, _ = webhook
    client.force_login(alice)
    assert "hx-trigger" not in client.get(url(channel)).content.decode()
    Delivery.objects.create(channel=channel, notice=notice())
    html = client.get(url(channel)).content.decode()
    assert f'hx-get="{reverse("channel-deliveries", args=[channel.pk])}" hx-trigger="every 1s"' in html
