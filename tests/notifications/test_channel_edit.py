"""/settings/channels/<id>/edit/: change a channel (not its kind); audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from opsdash.audit.models import AuditEvent
from tests.notifications.conftest import assert_admin_only

pytestmark = pytest.mark.django_db


def url(channel) -> str:
    return reverse("channel-edit", args=[channel.pk])


def test_it_is_for_global_admins_only(client, everyone, webhook):
    assert_admin_only(client, "GET", url(webhook[0]), everyone, 200)
    assert_admin_only(client, "POST", url(webhook[0]), everyone, 400)


def test_it_changes_a_webhook_and_audits_it(client, alice, webhook):
    channel, secret = webhook
    client.force_login(alice)

    response = client.post(url(channel), {"name": "ops hook (eu)", "url": "https://hooks.example.com/new/path",
                                          "min_severity": "critical", "transitions": ["opened"]})  # fmt: skip

    assert response.status_code == 302
    channel.refresh_from_db()
    assert (channel.name, channel.url, channel.min_severity, channel.transitions, channel.enabled) == (
        "ops hook (eu)",
        "https://hooks.example.com/new/path",
        "critical",
        ["opened"],
        False,  # the checkbox was left unticked
    )
    assert channel.secret == secret  # editing keeps the secret; rotating changes it
    event = AuditEvent.objects.get(action="channel.update")
    assert event.actor == alice
    assert event.before["name"] == "ops hook"
    assert event.after["name"] == "ops hook (eu)"
    assert set(event.detail["changed"]) == {"name", "url", "min_severity", "transitions", "enabled"}
    assert "new/path" not in str(event.after)
    assert "pathtoken123" not in str(event.before)


def test_it_shows_only_the_fields_of_the_channel_kind(client, alice, webhook, email_channel):
    client.force_login(alice)
    webhook_form = client.get(url(webhook[0])).content.decode()
    email_form = client.get(url(email_channel)).content.decode()
    assert 'name="url"' in webhook_form
    assert 'name="recipients"' not in webhook_form
    assert 'name="recipients"' in email_form
    assert 'name="url"' not in email_form
    assert 'name="kind"' not in webhook_form
    assert "oncall@example.com, lead@example.com" in email_form


def test_it_refuses_a_url_that_is_not_http(client, alice, webhook):
    channel, _ = webhook
    client.force_login(alice)
    response = client.post(url(channel), {"name": "x", "url": "file:///etc/passwd", "transitions": ["opened"]})
    assert response.status_code == 400
    assert "Enter an http:// or https:// URL." in response.content.decode()
    channel.refresh_from_db()
    assert channel.name == "ops hook"


def test_it_answers_404_for_a_missing_channel(client, alice):
    client.force_login(alice)
    assert client.get(reverse("channel-edit", args=[999999])).status_code == 404
