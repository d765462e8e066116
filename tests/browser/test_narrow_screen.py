"""On a phone-sized screen every link stays reachable and no page scrolls sideways."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.ui import MAIN_NAVIGATION, heading, main_nav, settle

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}


def page_width_overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_it_fits_every_page_to_a_phone_screen(page, login, console_errors, screenshot, alice, acme, globex):
    page.set_viewport_size(PHONE)
    login(page, "alice")

    for label, title in MAIN_NAVIGATION:
        link = main_nav(page).get_by_role("link", name=label, exact=True)
        # Visible without scrolling the navigation sideways.
        expect(link).to_be_in_viewport()
        link.click()
        expect(page.get_by_role("heading", level=1)).to_have_text(heading(title))
        settle(page, console_errors, f"the {label} page")
        assert page_width_overflow(page) <= 0, f"the {label} page is wider than the screen"
        screenshot(label.lower())

    page.get_by_test_id("user-menu").click()
    page.get_by_role("link", name="Users", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(heading("Users"))
    assert page_width_overflow(page) <= 0, "the Users page is wider than the screen"
    screenshot("users")


# Every dashboard page, with data in it: wide tables and charts are what push a page past
# the screen's edge.
DASHBOARD_PAGES = [
    "/?range=24h",
    "/latency/?range=24h",
    "/latency/?range=24h&by=model",
    "/cost/?range=24h",
    "/safety/?range=24h",
    "/evals/",
    "/alerts/",
    "/tenants/",
    "/tenants/acme/",
]


def test_it_fits_every_dashboard_with_data_to_a_phone_screen(page, login, console_errors, screenshot, alice, traffic):
    page.set_viewport_size(PHONE)
    login(page, "alice")
    for path in DASHBOARD_PAGES:
        page.goto(path)
        settle(page, console_errors, path)
        for chart in page.locator("[data-chart]").all():
            expect(chart).to_have_attribute("data-drawn", "true")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width} px wide on a {PHONE['width']} px screen"
        screenshot(path.strip("/").split("?")[0].replace("/", "-") or "overview")
    # The heatmap takes the width of its panel, not a sliver of it.
    page.goto("/latency/?range=24h")
    heatmap = page.locator('[data-chart="chart-heatmap"]')
    expect(heatmap).to_have_attribute("data-drawn", "true")
    # The cells' area (plotly's drag layer over the plot), not the box around it.
    cells = heatmap.locator("rect.nsewdrag").first.bounding_box()
    assert cells is not None
    assert cells["width"] >= 0.5 * PHONE["width"], f"the heatmap's cells are {cells['width']:.0f} px wide"
    # Wide tables scroll inside their panel.
    table = page.get_by_test_id("slowest")
    assert table.evaluate("t => t.scrollWidth > t.clientWidth ? getComputedStyle(t).overflowX : 'fits'") in (
        "auto",
        "scroll",
        "fits",
    )
