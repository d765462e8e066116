"""/settings/channels/: the channels, their state and last delivery, for global admins only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from opsdash.notifications import services
from opsdash.notifications.models import Delivery
from tests.notifications.conftest import assert_admin_only, notice

pytestmark = pytest.mark.django_db
URL = reverse("settings-channels")


def test_it_is_for_global_admins_only(client, everyone):
    assert_admin_only(client, "GET", URL, everyone, 200)


def test_it_lists_channels_with_state_and_last_delivery(client, alice, webhook, email_channel):
    channel, secret = webhook
    services.set_enabled(email_channel, acting_user=alice, enabled=False)
    Delivery.objects.create(channel=channel, notice=notice(), state="failed", attempts=5, last_response_code=503,
                            last_error="gave up after 5 attempts: HTTP 503 Service Unavailable")  # fmt: skip
    client.force_login(alice)

    response = client.get(URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert "ops hook" in html
    assert "on-call mail" in html
    assert '<span class="badge badge-revoked">disabled</span>' in html
    assert '<span class="badge badge-active">enabled</span>' in html
    assert "503" in html
    assert "gave up after 5 attempts" in html
    assert "none yet" in html  # the email channel has sent nothing
    assert html.count(">Send test</button>") == 2
    assert reverse("channel-create") in html
    # The webhook shows by host only: the secret and the URL's path stay out of the page.
    assert "http://127.0.0.1:" in html
    assert secret not in html
    assert "pathtoken123" not in html


def test_it_is_in_the_settings_menu(client, alice):
    client.force_login(alice)
    html = client.get(URL).content.decode()
    assert f'href="{URL}" aria-current="page">Channels</a>' in html


def test_it_explains_an_empty_list(client, alice):
    client.force_login(alice)
    assert "No channels" in client.get(URL).content.decode()
