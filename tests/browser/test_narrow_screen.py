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
