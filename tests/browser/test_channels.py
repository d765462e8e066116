"""An admin adds a webhook channel, keeps its secret, sends a test and watches it arrive:
in Chromium against the live server, the test carried out by a real worker process and
received by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from opsdash.notifications.models import Channel
from tests.browser.ui import settle, user_menu
from tests.notifications.conftest import running_receiver, verify

# The live server and the worker see only committed data.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def receiver():
    # On 127.0.0.1 in this process; the worker process posts to it.
    with running_receiver() as receiver:
        yield receiver


def test_an_admin_adds_a_webhook_and_sees_its_test_delivered(
    page, login, console_errors, screenshot, celery_worker_process, receiver, alice
):
    celery_worker_process()
    login(page, "alice")
    page.get_by_test_id("user-menu").click()
    user_menu(page).get_by_role("link", name="Channels", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Notification channels")
    page.get_by_role("link", name="New channel").click()

    page.get_by_label("Name").fill("ops webhook")
    page.get_by_label("Webhook", exact=True).check()
    expect(page.get_by_label("Recipients")).to_be_hidden()  # only the webhook's fields show
    page.get_by_label("Webhook URL").fill(receiver.url)
    page.get_by_label("Minimum severity").select_option("warning")
    screenshot("new-channel-form")
    page.get_by_role("button", name="Create channel").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Created ops webhook")
    secret = page.get_by_test_id("channel-secret").input_value()
    assert secret.startswith("whsec_")
    settle(page, console_errors, "the new secret")
    screenshot("secret-shown-once")

    page.get_by_role("link", name="Continue to ops webhook").click()
    expect(page).to_have_url(re.compile(r"/settings/channels/\d+/$"))
    assert secret not in page.content()
    page.get_by_role("link", name="Channels", exact=True).first.click()
    row = page.get_by_role("row", name=re.compile(r"^ops webhook"))
    expect(row).to_contain_text("enabled")
    expect(row).to_contain_text("none yet")
    row.get_by_role("button", name="Send test").click()

    expect(page.get_by_role("status")).to_contain_text("Sent test notification")
    log = page.get_by_test_id("deliveries")
    expect(log.get_by_test_id("delivery-state")).to_have_text("Delivered", timeout=20_000)
    expect(log.get_by_test_id("delivery-code")).to_have_text("200")
    expect(log).to_contain_text("Test notification for ops webhook")
    settle(page, console_errors, "the delivery log")
    screenshot("test-delivered")
    assert secret not in page.content()

    [request] = receiver.requests
    assert verify(secret, request)
    channel = Channel.objects.get()
    assert request.headers["X-Opsdash-Delivery"] == str(channel.deliveries.get().pk)
    assert request.json()["opsdash"]["kind"] == "test"

    page.get_by_role("link", name="Channels", exact=True).first.click()
    expect(page.get_by_role("row", name=re.compile(r"^ops webhook"))).to_contain_text("delivered")
    screenshot("channel-list")
    assert console_errors == []
