"""POST /settings/channels/<id>/enabled/: enable or disable a channel; audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from opsdash.audit.models import AuditEvent
from opsdash.notifications import services
from tests.notifications.conftest import assert_admin_only, notice

pytestmark = pytest.mark.django_db


def url(channel) -> str:
    return reverse("channel-set-enabled", args=[channel.pk])


def test_it_is_for_global_admins_only(client, everyone, webhook):
    assert_admin_only(client, "POST", url(webhook[0]), everyone, 400)  # no value given


def test_it_disables_and_enables_a_channel(client, alice, webhook):
    channel, _ = webhook
    client.force_login(alice)

    response = client.post(url(channel), {"enabled": "0", "next": "list"})

    assert response.status_code == 302
    assert response["Location"] == reverse("settings-channels")
    channel.refresh_from_db()
    assert channel.enabled is False
    assert services.dispatch(notice()) == []  # a disabled channel gets no alerts

    response = client.post(url(channel), {"enabled": "1"})
    assert response["Location"] == reverse("channel-detail", args=[channel.pk])
    channel.refresh_from_db()
    assert channel.enabled is True
    assert list(
        AuditEvent.objects.filter(action__startswith="channel.").order_by("id").values_list("action", flat=True)
    ) == [
        "channel.create",
        "channel.disable",
        "channel.enable",
    ]


def test_it_refuses_a_value_that_is_not_0_or_1(client, alice, webhook):
    client.force_login(alice)
    response = client.post(url(webhook[0]), {"enabled": "yes please"})
    assert response.status_code == 400
    assert "must be 1 (enable) or 0 (disable)" in response.content.decode()


def test_it_answers_404_for_a_missing_channel(client, alice):
    client.force_login(alice)
    assert client.post(reverse("channel-set-enabled", args=[999999]), {"enabled": "1"}).status_code == 404
