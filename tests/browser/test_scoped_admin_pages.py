"""An admin limited to acme sees, on the Users and Audit pages, only what lies wholly within
acme: not a user moved in from globex, not a globex user, not a global admin, and no audit
event that touches globex. A global admin sees all of it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from opsdash.accounts import services
from opsdash.audit.services import record_event
from tests.browser.ui import main_nav, settle, user_menu

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mixed_world(alice, grace, acme, globex):
    services.create_user("ana-acme", acting_user=alice, role="viewer", password=None, tenant_slugs=["acme"])
    services.create_user("gil-globex", acting_user=alice, role="operator", password=None, tenant_slugs=["globex"])
    moved = services.create_user("max-moved", acting_user=alice, role="viewer", password=None, tenant_slugs=["globex"])
    services.change_role(moved, acting_user=alice, role="viewer", tenant_slugs=["acme"])
    services.create_user("root-two", acting_user=alice, role="admin", password=None)
    record_event("tenant.pause", actor=alice, tenant=globex, detail={"reason": "globex only"})
    record_event("tenant.pause", actor=alice, tenant=acme, detail={"reason": "acme only"})


def test_a_scoped_admin_sees_only_its_tenants_users_and_events(page, login, console_errors, mixed_world):
    login(page, "grace")
    page.get_by_test_id("user-menu").click()
    user_menu(page).get_by_role("link", name="Users", exact=True).click()
    users = page.get_by_role("main").get_by_role("table")
    expect(users.get_by_role("row", name=re.compile(r"^ana-acme"))).to_be_visible()
    for outside in ("gil-globex", "max-moved", "root-two", "alice"):
        expect(users).not_to_contain_text(outside)
    settle(page, console_errors, "the user list")

    main_nav(page).get_by_role("link", name="Audit", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Audit")
    cells = page.get_by_test_id("event-tenants")
    expect(cells.first).to_be_visible()
    # acme's events, and her own login (which touches no tenant): nothing names globex.
    named = [text.split() for text in cells.all_inner_texts()]
    assert ["acme"] in named
    assert all(tenants in ([], ["acme"]) for tenants in named), named
    table = page.get_by_role("main").get_by_role("table")
    expect(table).not_to_contain_text("max-moved")  # the move from globex touches globex
    expect(table).not_to_contain_text("gil-globex")
    tenant_filter = page.get_by_label("Tenant")
    expect(tenant_filter.locator("option")).to_have_text(["any", "acme"])
    expect(page.get_by_test_id("chain-status")).to_have_count(0)
    settle(page, console_errors, "the audit page")


def test_a_global_admin_sees_every_user_and_event(page, login, console_errors, mixed_world):
    login(page, "alice")
    page.get_by_test_id("user-menu").click()
    user_menu(page).get_by_role("link", name="Users", exact=True).click()
    users = page.get_by_role("main").get_by_role("table")
    for name in ("ana-acme", "gil-globex", "max-moved", "root-two"):
        expect(users.get_by_role("row", name=re.compile(rf"^{name}"))).to_be_visible()
    main_nav(page).get_by_role("link", name="Audit", exact=True).click()
    expect(page.get_by_test_id("event-tenants").filter(has_text=re.compile(r"^acme globex$"))).to_have_count(1)
    expect(page.get_by_test_id("event-tenants").filter(has_text=re.compile(r"^all$")).first).to_be_visible()
    settle(page, console_errors, "the audit page")
