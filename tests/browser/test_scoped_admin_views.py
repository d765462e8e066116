"""grace, an admin limited to acme, logs in and finds on the Users and Audit pages exactly what
lies wholly within acme: not the user alice moved in from globex, not globex's users, not a
global admin, and no event that touches globex. alice, who sees every tenant, then finds all
of it on the same pages."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from opsdash.accounts import services
from tests.browser.ui import heading, main_nav, settle, user_menu

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Every user grace may manage: all they ever had is acme (grace included).
ACME_ONLY = ["ada", "frank", "grace"]


@pytest.fixture
def acme_and_beyond(alice, grace, frank, dave, acme, globex):
    """alice makes an acme user, a globex user, another global admin, and moves a globex user
    to acme; dave (globex) and frank (acme) exist already."""
    services.create_user("ada", acting_user=alice, role="viewer", password=None, tenant_slugs=["acme"])
    services.create_user("gus", acting_user=alice, role="operator", password=None, tenant_slugs=["globex"])
    services.create_user("olga", acting_user=alice, role="admin", password=None)
    mover = services.create_user("mover", acting_user=alice, role="viewer", password=None, tenant_slugs=["globex"])
    services.change_role(mover, acting_user=alice, role="viewer", tenant_slugs=["acme"])


def open_users(page) -> None:
    page.get_by_test_id("user-menu").click()
    user_menu(page).get_by_role("link", name="Users", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(heading("Users"))


def open_audit(page) -> None:
    main_nav(page).get_by_role("link", name="Audit", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(heading("Audit"))


def audit_rows(page):
    return page.get_by_role("main").get_by_role("table").locator("tbody tr")


def test_it_shows_an_admin_limited_to_acme_only_acmes_users_and_events(page, login, console_errors, acme_and_beyond):
    login(page, "grace")
    open_users(page)
    user_names = page.get_by_role("main").get_by_role("table").locator("tbody tr td:first-child")
    expect(user_names).to_have_text(ACME_ONLY)
    settle(page, console_errors, "grace's user list")

    open_audit(page)
    rows = audit_rows(page)
    expect(rows.filter(has_text="user.create").filter(has_text="ada")).to_have_count(1)
    tenants = page.get_by_test_id("event-tenants")
    for index in range(rows.count()):
        # Only acme, or nothing for grace's own events of no tenant (her login).
        named = tenants.nth(index).inner_text().split()
        assert named in (["acme"], []), named
        if not named:
            expect(rows.nth(index)).to_contain_text("grace")
    table = page.get_by_role("main").get_by_role("table")
    for beyond in ("mover", "gus", "olga", "dave", "globex"):
        expect(table).not_to_contain_text(beyond)
    expect(page.get_by_label("Tenant").locator("option")).to_have_text(["any", "acme"])
    # Asking for the role changes finds none: mover's move from globex touches globex.
    page.get_by_label("Event").select_option("user.role_change")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("heading", name="No audit events match")).to_be_visible()
    settle(page, console_errors, "grace's audit page")

    page.get_by_test_id("user-menu").click()
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))

    login(page, "alice")
    open_users(page)
    user_names = page.get_by_role("main").get_by_role("table").locator("tbody tr td:first-child")
    expect(user_names).to_have_text(sorted(["alice", "dave", "gus", "mover", "olga", *ACME_ONLY]))
    open_audit(page)
    rows = audit_rows(page)
    moved = rows.filter(has_text="user.role_change").filter(has_text="mover")
    expect(moved.get_by_test_id("event-tenants")).to_have_text("acme globex")
    expect(rows.filter(has_text="user.create").filter(has_text="gus").get_by_test_id("event-tenants")).to_have_text(
        "globex"
    )
    expect(rows.filter(has_text="user.create").filter(has_text="olga").get_by_test_id("event-tenants")).to_have_text(
        "all"
    )
    expect(page.get_by_label("Tenant").locator("option")).to_have_text(["any", "acme", "globex"])
    settle(page, console_errors, "alice's audit page")
