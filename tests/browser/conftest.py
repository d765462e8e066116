"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live server.

Every test here is marked ``browser`` (``make test-fast`` leaves them out) and the whole
folder is skipped when no Chromium is installed (``make browser-deps`` installs it).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import PASSWORD

HERE = Path(__file__).resolve().parent
SCREENSHOTS = HERE.parent.parent / "test-output" / "screenshots"

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium calls Google services at start; where outbound
    # connections are refused, that breaks the launch.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium() -> str | None:
    for candidate in ("chromium", "chromium-browser"):
        found = shutil.which(candidate)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


CHROMIUM = find_chromium()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees every collected item of the run, not only this folder's.
    skip = pytest.mark.skip(
        reason="no Chromium found (looked for chromium, chromium-browser, /usr/bin/chromium); run make browser-deps"
    )
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)
            if CHROMIUM is None:
                item.add_marker(skip)


_failed_key = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    # Kept on the item so the page fixture can save a screenshot of a failed test.
    report = yield
    if report.when == "call":
        item.stash[_failed_key] = report.failed
    return report


@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    """One Chromium for all the browser tests.

    While Playwright's sync API is started it leaves its event loop marked as running in
    this thread between calls, so Django takes every ORM call of the test (fixtures
    creating users, say) for one made from async code and refuses it ("You cannot call
    this from an async context"). DJANGO_ALLOW_ASYNC_UNSAFE lifts that check. It is
    sound here: the test code is plain synchronous code, and the loop only runs while a
    Playwright call waits, never alongside a query. The live server answers from its own
    thread, which has no loop at all.

    Package scope rather than session: Playwright stops, and the variable is restored,
    once the last browser test is done, so the rest of the suite keeps Django's check.
    """
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()


@pytest.fixture
def page(browser, live_server, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh context (no cookies) and page per test, with relative URLs on the live server."""
    # The folder shows the last run of each test only.
    for old in SCREENSHOTS.glob(f"{screenshot_name(request.node.name, '')}*.png"):
        old.unlink()
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    # A hung page fails the test in seconds instead of Playwright's 30.
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    if request.node.stash.get(_failed_key, False):
        save_screenshot(page, screenshot_name(request.node.name, "failure"))
    context.close()


@pytest.fixture
def console_errors(page) -> list[str]:
    """Console errors and uncaught exceptions of the page; a CSP violation shows up here."""
    errors: list[str] = []

    def on_console(message) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            errors.append(f"console: {message.text} ({where})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    return errors


@pytest.fixture
def login() -> Callable[..., None]:
    """Logs in through the form, as a person would."""

    def login(page, username: str, password: str = PASSWORD) -> None:
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        with page.expect_navigation():
            page.get_by_role("button", name="Log in").click()

    return login


def screenshot_name(test_name: str, step: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{test_name}-{step}")


def save_screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def screenshot(page, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """screenshot("tenants") saves test-output/screenshots/<test name>-<NN>-tenants.png.

    Steps are numbered so the files sort in the order the test took them.
    """
    steps = itertools.count(1)
    return lambda step: save_screenshot(page, screenshot_name(request.node.name, f"{next(steps):02d}-{step}"))


@pytest.fixture
def traffic(transactional_db, acme, globex):
    """800 requests of acme and globex over the last 20 hours, folded into the rollups,
    and a jailbreak flag: enough for every dashboard to draw its charts and tables."""
    import datetime as dt

    from django.utils import timezone

    from opsdash.ingest.events import ingest_events
    from opsdash.safety.models import SafetyFlag
    from tests.dashboards.conftest import fold_all, make_events
    from tests.telemetry.factories import truncate_raw

    truncate_raw()
    events = make_events(["acme", "globex"], 800, timezone.now(), seed=3)
    assert ingest_events(events).accepted == len(events)
    fold_all(len(events))
    SafetyFlag.objects.create(tenant=acme, ts=timezone.now() - dt.timedelta(hours=1), event_id="e1",
                              kind="jailbreak", severity="high", excerpt="ignore previous instructions")  # fmt: skip
    yield events
    truncate_raw()
