"""The prompt-version comparison in Chromium: reached from the Evals table, both versions side by side."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.ui import settle
from tests.evals.compare_data import seeded

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def traffic(transactional_db, acme, globex):
    yield from seeded()


def test_it_opens_the_comparison_from_the_evals_table(page, login, console_errors, screenshot, carol, traffic):
    login(page, "carol")
    page.goto("/evals/?range=30d")
    row = page.get_by_test_id("failing-prompts").get_by_role("row", name=re.compile(r"answer v2"))
    screenshot("evals")
    row.get_by_role("link", name="compare with v1").click()
    expect(page).to_have_url(re.compile(r"/evals/compare/\?.*prompt_id=answer&a=v1&b=v2"))
    expect(page.get_by_role("heading", name="Compare prompt versions")).to_be_visible()
    expect(page.get_by_test_id("column-a")).to_contain_text("A: v1")
    expect(page.get_by_test_id("column-a")).to_contain_text("v1-new")
    expect(page.get_by_test_id("column-b")).to_contain_text("B: v2")
    expect(page.get_by_test_id("column-b")).to_contain_text("v2-new")
    table = page.get_by_test_id("compare-eval-table")
    expect(table.get_by_role("row", name=re.compile("groundedness"))).to_contain_text("90.0 %")
    expect(table.get_by_role("row", name=re.compile("groundedness"))).to_contain_text("62.5 %")
    expect(page.get_by_test_id("gate-verdict")).to_have_text("gate: fail")
    production = page.get_by_test_id("compare-production-table")
    expect(production.get_by_role("row", name=re.compile("Error rate"))).to_contain_text("%")
    settle(page, console_errors, "/evals/compare/")
    screenshot("compare")

    # A filter refreshes the panels in place and keeps the comparison in the URL.
    page.get_by_label("Tenant").select_option("globex")
    expect(page).to_have_url(re.compile(r"tenant=globex"))
    expect(page).to_have_url(re.compile(r"a=v1&b=v2"))
    expect(page.get_by_test_id("column-b")).to_contain_text("B: v2")
    settle(page, console_errors, "/evals/compare/ for globex")
    screenshot("compare-globex")
