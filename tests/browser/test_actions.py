"""Actions in Chromium against the live server, carried out by a real worker process."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.actions.conftest import make_conversations
from tests.conftest import PASSWORD, make_user

# The live server and the worker see only committed data.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_it_pauses_a_tenant_and_shows_progress_and_receipt(
    page, login, console_errors, screenshot, celery_worker_process, bob, acme
):
    celery_worker_process()
    login(page, "bob")
    page.goto("/tenants/acme/")
    expect(page.get_by_test_id("tenant-status")).to_have_text("Active")
    page.get_by_role("button", name="Pause tenant").click()
    page.get_by_label("Reason").fill("suspicious traffic from one key")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_test_id("action-preview")).to_contain_text("pauses tenant acme")
    screenshot("01-preview")
    page.get_by_role("button", name="Pause tenant").click()
    expect(page).to_have_url(re.compile(r"/actions/\d+/$"))
    expect(page.get_by_test_id("run-state")).to_have_text("Succeeded")
    expect(page.get_by_test_id("run-receipt")).to_contain_text("suspicious traffic from one key")
    expect(page.get_by_role("progressbar", name="Progress")).to_have_attribute("value", "100")
    expect(page.get_by_test_id("tenant-status")).to_have_text("Paused")
    screenshot("02-receipt")
    page.goto("/tenants/")
    expect(page.get_by_role("row", name=re.compile("acme")).get_by_text("Paused")).to_be_visible()
    assert console_errors == []


def test_it_runs_a_purge_once_a_second_admin_approves(
    browser, page, login, live_server, console_errors, screenshot, celery_worker_process, alice, acme
):
    make_conversations(acme, 3, 2)
    heidi = make_user("heidi", "admin")
    celery_worker_process()
    login(page, "alice")
    page.goto("/tenants/acme/")
    page.get_by_role("button", name="Purge conversations").click()
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_test_id("action-preview")).to_contain_text("deletes 6 messages in 3 conversations")
    page.get_by_label("Type the tenant's slug to confirm").fill("acme")
    page.get_by_role("button", name="Request: purge conversations").click()
    expect(page.get_by_test_id("run-state")).to_have_text("Awaiting approval")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    screenshot("01-awaiting-approval")
    run_url = page.url

    second = browser.new_context(base_url=live_server.url)
    second.set_default_timeout(10_000)
    other = second.new_page()
    login(other, heidi.username, PASSWORD)
    other.goto("/actions/")
    pending = other.get_by_test_id("awaiting-approval")
    expect(pending).to_contain_text("alice")
    pending.get_by_role("link").first.click()
    other.get_by_role("button", name="Approve").click()
    expect(other.get_by_test_id("run-state")).to_have_text("Succeeded")
    expect(other.get_by_test_id("run-receipt")).to_contain_text("Messages deleted")
    second.close()

    # The requester's page notices on its own.
    assert page.url == run_url
    expect(page.get_by_test_id("run-receipt")).to_contain_text("Messages deleted", timeout=20_000)
    expect(page.get_by_test_id("run-receipt")).to_contain_text("6")
    screenshot("02-receipt")
    assert console_errors == []
