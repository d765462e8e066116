"""/settings/channels/new/: a new channel; a webhook's secret is shown once."""

from __future__ import annotations

import pytest
from django.urls import reverse

from opsdash.audit.models import AuditEvent
from opsdash.notifications.models import Channel
from tests.notifications.conftest import assert_admin_only

pytestmark = pytest.mark.django_db
URL = reverse("channel-create")


def webhook_form(**overrides):
    return {"name": "ops Slack", "kind": "webhook", "url": "https://hooks.example.com/services/T1/B2/xyz",
            "min_severity": "warning", "transitions": ["opened", "resolved"], "enabled": "on", **overrides}  # fmt: skip


def test_it_is_for_global_admins_only(client, everyone):
    assert_admin_only(client, "GET", URL, everyone, 200)
    assert_admin_only(client, "POST", URL, everyone, 400)  # an empty form is bad input


def test_it_creates_a_webhook_and_shows_its_secret_once(client, alice):
    client.force_login(alice)

    response = client.post(URL, webhook_form())

    assert response.status_code == 200
    channel = Channel.objects.get()
    assert (channel.name, channel.kind, channel.min_severity, channel.transitions, channel.enabled) == (
        "ops Slack",
        "webhook",
        "warning",
        ["opened", "resolved"],
        True,
    )
    assert channel.created_by == alice
    assert channel.secret.startswith("whsec_")
    html = response.content.decode()
    assert f'value="{channel.secret}"' in html
    assert "it is not shown again" in html
    assert response["Cache-Control"] == "no-store"
    # Never again: not on the channel's page, nor in the list.
    for url in (reverse("channel-detail", args=[channel.pk]), reverse("settings-channels")):
        assert channel.secret not in client.get(url).content.decode()


def test_it_audits_the_creation_without_the_secret(client, alice):
    client.force_login(alice)
    client.post(URL, webhook_form())
    channel = Channel.objects.get()
    event = AuditEvent.objects.get(action="channel.create")
    assert event.actor == alice
    assert event.object_id == str(channel.pk)
    assert event.after["destination"] == "https://hooks.example.com"
    assert channel.secret not in str(event.after) + str(event.detail)
    assert "xyz" not in str(event.after)


def test_it_creates_an_email_channel(client, alice):
    client.force_login(alice)

    response = client.post(
        URL, webhook_form(kind="email", url="", recipients="a@example.com, b@example.com\nc@example.com")
    )

    channel = Channel.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("channel-detail", args=[channel.pk])
    assert channel.recipients == ["a@example.com", "b@example.com", "c@example.com"]
    assert (channel.url, channel.secret) == ("", "")


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (webhook_form(url="ftp://files.example.com/hook"), "Enter an http:// or https:// URL."),
        (webhook_form(url="javascript:alert(1)"), "Enter an http:// or https:// URL."),
        (webhook_form(url=""), "A webhook channel needs a URL."),
        (webhook_form(kind="email", recipients=""), "An email channel needs at least one recipient."),
        (
            webhook_form(kind="email", recipients="ops@example.com, not-an-address"),
            "Not an email address: not-an-address.",
        ),
        (webhook_form(transitions=[]), "Choose at least one transition to send."),
        (webhook_form(transitions=["exploded"]), "Select a valid choice."),
        (webhook_form(kind="pager"), "Select a valid choice."),
        (webhook_form(min_severity="apocalyptic"), "Select a valid choice."),
    ],
)
def test_it_refuses_bad_input_naming_the_problem(client, alice, form, message):
    client.force_login(alice)
    response = client.post(URL, form)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Channel.objects.exists()


def test_it_refuses_a_second_channel_with_the_same_name(client, alice):
    client.force_login(alice)
    client.post(URL, webhook_form())
    response = client.post(URL, webhook_form(name="OPS slack"))
    assert response.status_code == 400
    assert "A channel with this name already exists." in response.content.decode()
    assert Channel.objects.count() == 1
