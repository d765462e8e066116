"""What the browser tests look for on opsdash's pages, in the words a user would use."""

from __future__ import annotations

import re

# (link text, the page's main heading) in the order the main navigation shows them.
MAIN_NAVIGATION = [
    ("Overview", "Overview"),
    ("Alerts", "Alerts"),
    ("Latency", "Latency"),
    ("Cost", "Cost"),
    ("Evals", "Evals"),
    ("Safety", "Safety"),
    ("Tenants", "Tenants"),
    ("Actions", "Actions"),
    ("Audit", "Audit"),
]
USER_MENU = [("Users", "Users"), ("Tokens", "API tokens"), ("SLOs", "SLOs"), ("Budgets", "Budgets")]


def heading(text: str) -> re.Pattern[str]:
    # Some headings carry a button or a badge after the title (e.g. "Users New user").
    return re.compile(rf"^{re.escape(text)}\b")


def main_nav(page):
    return page.get_by_role("navigation", name="Main")


def user_menu(page):
    return page.locator("details", has=page.get_by_test_id("user-menu"))


TEMPLATE_SYNTAX = re.compile(r"\{[{%#]|[}%#]\}")


def settle(page, console_errors: list[str], where: str) -> None:
    """Waits for the page to finish loading, then checks what is wrong on any page:
    errors in the console, and template syntax showing as text (an unclosed tag or a
    comment spread over lines)."""
    # Scripts run until "load"; their errors must be in before we look.
    page.wait_for_load_state("load")
    assert console_errors == [], f"console errors on {where}"
    leaked = TEMPLATE_SYNTAX.findall(page.locator("body").inner_text())
    assert not leaked, f"template syntax shows as text on {where}: {leaked}"
