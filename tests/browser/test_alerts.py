"""/alerts/ in Chromium: an operator acknowledges an alert raised by the evaluation."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from opsdash.alerts.evaluation import evaluate
from opsdash.alerts.models import Alert
from tests.alerts.conftest import event, send
from tests.browser.ui import settle
from tests.telemetry.factories import truncate_raw

# The live server answers from another thread: only committed data is visible to it.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def over_budget(acme):
    """acme has spent $95 of its $100 day: the evaluation raises its 90 % alert."""
    truncate_raw()
    now = timezone.now()
    send([event(max(now - dt.timedelta(minutes=2), now.replace(hour=0, minute=0, second=1)), cost_usd=95.0)])
    evaluate(now)
    yield Alert.objects.get(rule="budget.daily")
    truncate_raw()


def test_it_acknowledges_an_alert_with_the_operators_name(page, login, console_errors, screenshot, bob, over_budget):
    login(page, "bob")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Alerts")
    row = page.get_by_test_id(f"alert-{over_budget.pk}")
    expect(row).to_contain_text("acme: 95 % of the daily budget used ($95.00 of $100.00)")
    expect(row.get_by_role("link", name="Show the cause")).to_have_attribute("href", "/cost/?tenant=acme&range=24h")
    expect(page.get_by_role("link", name=re.compile(r"^Open\s+1$"))).to_have_attribute("aria-current", "page")
    settle(page, console_errors, "the open alerts")
    screenshot("open")

    row.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status")).to_contain_text("Acknowledged “acme: 95 % of the daily budget used")
    expect(page.get_by_test_id(f"alert-{over_budget.pk}")).to_have_count(0)
    expect(page.get_by_role("heading", name="No open alerts")).to_be_visible()

    page.get_by_role("link", name=re.compile(r"^Acknowledged\s+1$")).click()
    expect(page).to_have_url(re.compile(r"/alerts/\?state=acknowledged$"))
    acknowledged = page.get_by_test_id(f"alert-{over_budget.pk}")
    expect(acknowledged.get_by_test_id("acknowledged-by")).to_contain_text("bob")
    settle(page, console_errors, "the acknowledged alerts")
    screenshot("acknowledged")

    over_budget.refresh_from_db()
    assert (over_budget.state, over_budget.acknowledged_by) == (Alert.State.ACKNOWLEDGED, bob)
    assert console_errors == []
