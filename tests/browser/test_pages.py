"""Logging in, moving around every page by clicking, and logging out, in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.ui import MAIN_NAVIGATION, USER_MENU, heading, main_nav, settle, user_menu
from tests.conftest import PASSWORD

# The live server answers from another thread: only committed data is visible to it.
pytestmark = pytest.mark.django_db(transaction=True)


def test_it_logs_in_and_visits_every_page(page, login, console_errors, screenshot, alice, acme, globex):
    login(page, "alice")
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    expect(page.get_by_test_id("user-menu")).to_have_text("alice")
    settle(page, console_errors, "the overview after login")
    screenshot("after-login")

    expect(main_nav(page).get_by_role("link")).to_have_text([label for label, _ in MAIN_NAVIGATION])
    for label, title in MAIN_NAVIGATION:
        main_nav(page).get_by_role("link", name=label, exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(heading(title))
        settle(page, console_errors, f"the {label} page")
        screenshot(label.lower())

        if label == "Tenants":
            table = page.get_by_role("table")
            expect(table).to_contain_text("Acme Corp")
            expect(table).to_contain_text("Globex")
            table.get_by_role("link", name="acme", exact=True).click()
            expect(page).to_have_url(re.compile(r"/tenants/acme/$"))
            expect(page.get_by_role("heading", level=1)).to_have_text(heading("Acme Corp"))
            expect(page.get_by_role("heading", level=1)).to_contain_text("Active")
            expect(page.get_by_role("main")).to_contain_text(re.compile(r"Monthly budget\s*\$2,?500"))
            settle(page, console_errors, "acme's page")
            screenshot("tenant-acme")

    for label, title in USER_MENU:
        page.get_by_test_id("user-menu").click()
        link = user_menu(page).get_by_role("link", name=label, exact=True)
        expect(link).to_be_visible()
        screenshot(f"user-menu-for-{label.lower()}")
        link.click()
        expect(page.get_by_role("heading", level=1)).to_have_text(heading(title))
        settle(page, console_errors, f"the {label} page")
        screenshot(label.lower())
        if label == "Users":
            expect(page.get_by_role("table")).to_contain_text("alice")


def test_it_redirects_anonymous_to_login(page, live_server, console_errors, screenshot):
    page.goto("/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/")
    expect(page.get_by_text("Log in to continue.")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    settle(page, console_errors, "the login page")
    screenshot("login")


def test_it_returns_to_the_asked_page_after_login(page, live_server, console_errors, alice, acme):
    page.goto("/tenants/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/tenants/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tenants")
    expect(page).to_have_url(f"{live_server.url}/tenants/")
    settle(page, console_errors, "the tenants page")


def test_it_shows_error_on_wrong_password(page, live_server, login, console_errors, screenshot, alice):
    login(page, "alice", password="not-the-password")
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/")
    # The username stays filled in; the password does not.
    expect(page.get_by_label("Username")).to_have_value("alice")
    expect(page.get_by_label("Password")).to_have_value("")
    expect(page.get_by_test_id("user-menu")).to_have_count(0)
    settle(page, console_errors, "the login page with an error")
    screenshot("wrong-password")


def test_it_logs_out(page, live_server, login, console_errors, screenshot, alice):
    login(page, "alice")
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")

    page.get_by_test_id("user-menu").click()
    user_menu(page).get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{live_server.url}/accounts/login/")
    expect(page.get_by_text("Log in to continue.")).to_be_visible()
    expect(page.get_by_test_id("user-menu")).to_have_count(0)
    settle(page, console_errors, "the login page after logging out")
    screenshot("logged-out")

    page.goto("/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/")
