"""Every link, tab and filter option the dashboards offer answers, in Chromium.

From each dashboard page the crawl follows every same-origin link (GET only) of the pages it
reaches, chooses each option of each select of the filter bar, clicks each breakdown tab and
requests each htmx link as htmx does. It fails on any 4xx or 5xx answer (pages, htmx requests,
static files, the CSV export) and on any console error, as an admin and as a viewer scoped to
one tenant, who must never be offered another tenant.

Runtime is kept down by visiting each URL once and at most PER_PATTERN URLs of one shape (a
path with the same query keys: one row link of a table stands for the others); the filter bar
is exercised on the start pages, whose bar is the same one every other dashboard shows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.utils import timezone

from tests.browser.ui import settle
from tests.conftest import make_user

START = [
    "/",
    "/latency/?by=route",
    "/latency/?by=model",
    "/latency/?by=prompt",
    "/cost/",
    "/evals/",
    "/safety/",
    "/tenants/",
    "/tenants/{tenant}/",
    "/alerts/",
]
# The pages whose links the crawl follows further; any other page it reaches is only loaded.
DASHBOARDS = ("/latency/", "/cost/", "/evals/", "/safety/", "/tenants/", "/alerts/")
# Not followed: leaving, the API (tokens, not a session), and downloads (requested, not opened).
SKIP = re.compile(r"logout|^/api/|^/admin/|^/accounts/")
DOWNLOAD = re.compile(r"\.csv$")
PER_PATTERN = 1
HTMX = {"HX-Request": "true", "HX-Target": "panels"}


@pytest.fixture
def crawl_data(transactional_db, acme, globex) -> Iterator[None]:
    """Traffic of acme and globex with two versions of a prompt and their eval runs, safety
    flags of each tenant and an open alert: every table of every dashboard has rows."""
    from opsdash.alerts.models import Alert
    from opsdash.safety.models import SafetyFlag
    from tests.evals.compare_data import seeded

    now = timezone.now()
    for n, (tenant, kind, severity) in enumerate(
        [(acme, "jailbreak", "high"), (acme, "pii", "medium"), (globex, "prompt_injection", "high")]
    ):
        SafetyFlag.objects.create(tenant=tenant, ts=now - dt.timedelta(hours=n + 1), event_id=f"flag-{n}",
                                  conversation_id=f"conv-{n}", route="/chat", kind=kind, severity=severity,
                                  excerpt="ignore previous instructions")  # fmt: skip
    Alert.objects.create(rule="budget.daily", subject=f"tenant:{globex.pk}", tenant=globex, severity="critical",
                         title="globex: 120 % of the daily budget used", path="/cost/?tenant=globex&range=24h",
                         opened_at=now)  # fmt: skip
    yield from seeded()


def normalise(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))}"


def pattern(url: str) -> tuple[str, tuple[str, ...]]:
    """The shape of a URL: its path with slugs and ids as *, and its query keys but the
    range's (every range is chosen on the start pages already)."""
    parts = urlsplit(url)
    # Tenant pages, conversations and eval runs differ by a slug or id in the path.
    path = re.sub(r"^/(tenants|evals/runs)/[^/]+/", r"/\1/*/", parts.path)
    path = re.sub(r"/conversations/[^/]+/", "/conversations/*/", path)
    keys = {key for key, _ in parse_qsl(parts.query, keep_blank_values=True)} - {"range", "from", "to"}
    return path, tuple(sorted(keys))


class Crawl:
    def __init__(self, page, console_errors: list[str], origin: str, outsider_slugs: set[str]) -> None:
        self.page = page
        self.console_errors = console_errors
        self.origin = origin
        self.outsider_slugs = outsider_slugs
        self.failures: list[str] = []
        self.seen: set[str] = set()
        self.per_pattern: dict[tuple[str, tuple[str, ...]], int] = defaultdict(int)
        self.requested = 0
        page.on("response", self.on_response)

    def on_response(self, response) -> None:
        self.requested += 1
        if response.status >= 400:
            htmx = " (htmx)" if response.request.headers.get("hx-request") else ""
            self.failures.append(f"{response.status} {response.url}{htmx} on {self.page.url}")

    def local(self, href: str) -> str | None:
        """The path and query of a same-origin link, or None for one the crawl does not follow."""
        if not href or href.startswith(("#", "mailto:", "javascript:")):
            return None
        if href.startswith(self.origin):
            href = href[len(self.origin) :]
        if not href.startswith("/") or SKIP.search(href):
            return None
        return href

    def check_tenants(self, where: str, links: list[str]) -> None:
        """A scoped viewer is offered nothing of a tenant outside their scope."""
        for link in links:
            parts = urlsplit(link)
            slugs = {v for k, v in parse_qsl(parts.query) if k == "tenant"}
            slugs |= set(re.findall(r"^/tenants/([^/]+)/", parts.path))
            if slugs & self.outsider_slugs:
                self.failures.append(f"{where} offers {link} (another tenant)")
        options = self.page.locator("#f-tenant option").evaluate_all("els => els.map(e => e.value)")
        if set(options) & self.outsider_slugs:
            self.failures.append(f"{where}: the tenant filter offers {sorted(set(options) & self.outsider_slugs)}")

    def visit(self, url: str) -> list[str]:
        """Loads a page; returns its links (href and hx-get), checked and not yet followed."""
        self.page.goto(url)
        settle(self.page, self.console_errors, url)
        links = self.page.locator("a[href]").evaluate_all("els => els.map(e => e.getAttribute('href'))")
        links += self.page.locator("[hx-get]").evaluate_all("els => els.map(e => e.getAttribute('hx-get'))")
        path = urlsplit(url).path
        resolved = [self.local(self.absolute(path, link)) for link in links]
        found = [link for link in resolved if link]
        if self.outsider_slugs:
            self.check_tenants(url, found)
        return found

    @staticmethod
    def absolute(path: str, link: str | None) -> str:
        if link and link.startswith("?"):
            return f"{path}{link}"
        return link or ""

    def htmx_links(self, url: str) -> None:
        """Requests each hx-get of the page as htmx does (the panels only, filter bar out of band)."""
        path = urlsplit(url).path
        for link in self.page.locator("[hx-get]:not(form)").evaluate_all(
            "els => els.map(e => e.getAttribute('hx-get'))"
        ):
            target = self.local(self.absolute(path, link))
            if target is None or f"htmx {normalise(target)}" in self.seen:
                continue
            self.seen.add(f"htmx {normalise(target)}")
            response = self.page.request.get(target, headers=HTMX)
            if response.status >= 400:
                self.failures.append(f"{response.status} {target} (htmx request) on {url}")

    def filter_options(self, url: str, *, options: bool = True) -> None:
        """Chooses each option of each select of the filter bar, as a person would, and each
        breakdown tab; each answer comes through htmx into the panels."""
        from playwright.sync_api import expect

        selects = self.page.locator("#filters select").evaluate_all("els => els.map(e => e.id)") if options else []
        for select_id in selects:
            values = self.page.locator(f"#{select_id} option").evaluate_all("els => els.map(e => e.value)")
            for value in values:
                select = self.page.locator(f"#{select_id}")  # the bar is swapped after each answer
                if select.input_value() == value:
                    continue
                with self.page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
                    select.select_option(value)
                expect(self.page.locator("#panels.htmx-request")).to_have_count(0)
                expect(select).to_have_value(value)  # the bar shows what the panels show
                settle(self.page, self.console_errors, f"{url} with {select_id}={value}")
        # The breakdown tabs are the same links on each /latency/ start: clicked once.
        tabs = self.page.locator(".segmented a" if options else ".segmented a:not(*)")
        for n in range(tabs.count()):
            with self.page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
                self.page.locator(".segmented a").nth(n).click()
            expect(self.page.locator("#panels.htmx-request")).to_have_count(0)
            settle(self.page, self.console_errors, f"{url}, breakdown tab {n + 1}")

    def download(self, url: str, on: str) -> None:
        """Requests a URL without opening it in the page (a file, or a page outside the dashboards)."""
        response = self.page.request.get(url)
        if response.status >= 400:
            self.failures.append(f"{response.status} {url} (requested) from {on}")

    def run(self, starts: list[str]) -> None:
        queue: list[str] = []
        bars_walked: set[str] = set()
        for start in starts:
            self.seen.add(normalise(start))
            links = self.visit(start)
            self.htmx_links(start)
            # One walk through the bar's options per page (/latency/ starts three times, once per breakdown).
            path = urlsplit(start).path
            if self.page.locator("#filters").count():
                self.filter_options(start, options=path not in bars_walked)
                bars_walked.add(path)
            queue.extend(links)
        while queue:
            url = queue.pop(0)
            key = normalise(url)
            if key in self.seen:
                continue
            self.seen.add(key)
            if DOWNLOAD.search(urlsplit(url).path):
                self.download(url, "a dashboard")
                continue
            shape = pattern(url)
            if self.per_pattern[shape] >= PER_PATTERN:
                continue
            self.per_pattern[shape] += 1
            path = urlsplit(url).path
            if path != "/" and not path.startswith(DASHBOARDS):
                # Another part of the app (actions, audit, settings): it answers, the crawl goes no further.
                self.download(url, "a dashboard")
                continue
            queue.extend(self.visit(url))
            self.htmx_links(url)


def crawl(page, login, console_errors, live_server, username: str, tenant: str, outsiders: set[str]) -> Crawl:
    login(page, username)
    walker = Crawl(page, console_errors, live_server.url, outsiders)
    walker.run([start.format(tenant=tenant) for start in START])
    return walker


def test_every_link_tab_and_filter_option_answers(browser, page, login, console_errors, live_server, alice, globex,
                                                  crawl_data):  # fmt: skip
    from opsdash.accounts.models import Role

    admin = crawl(page, login, console_errors, live_server, "alice", "acme", set())
    assert not admin.failures, "as alice (admin):\n" + "\n".join(admin.failures[:40])
    visited = {urlsplit(u).path for u in admin.seen}
    # Row links of the tables were followed: tenants, conversations of flags, compare, eval runs.
    assert {"/tenants/acme/", "/tenants/globex/", "/evals/compare/", "/tenants/acme/conversations/conv-0/"} <= visited
    assert any(path.startswith("/evals/runs/") for path in visited)
    assert len(admin.seen) > 40

    # A viewer scoped to globex, in a context of their own (their own cookies and console).
    make_user("vera", Role.VIEWER, [globex])
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    try:
        viewer_page = context.new_page()
        errors: list[str] = []
        viewer_page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
        viewer_page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        viewer = crawl(viewer_page, login, errors, live_server, "vera", "globex", {"acme"})
    finally:
        context.close()
    assert not viewer.failures, "as vera (viewer of globex):\n" + "\n".join(viewer.failures[:40])
    assert "/tenants/globex/" in {urlsplit(u).path for u in viewer.seen}
    assert len(viewer.seen) > 25


def test_the_filter_bar_follows_row_links_and_errors_stay_in_the_panels(page, login, console_errors, alice, traffic):
    from playwright.sync_api import expect

    login(page, "alice")
    page.goto("/safety/?range=24h")
    # A tenant of "Top tenants": the panels narrow, and so does the bar.
    page.get_by_test_id("top-tenants").get_by_role("link", name="acme").click()
    page.wait_for_url(re.compile(r"tenant=acme"))
    expect(page.get_by_label("Tenant")).to_have_value("acme")
    # The next range change keeps the tenant.
    page.get_by_label("Range").select_option("7d")
    page.wait_for_url(re.compile(r"range=7d.*tenant=acme|tenant=acme.*range=7d"))
    expect(page.get_by_label("Tenant")).to_have_value("acme")
    # The navigation carries both to the next page.
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Latency")).to_have_attribute(
        "href", "/latency/?range=7d&tenant=acme"
    )

    page.goto("/latency/?range=24h&by=model")
    page.get_by_test_id("slowest").get_by_role("link").first.click()
    page.wait_for_url(re.compile(r"by=model.*model=|model=.*by=model"))
    expect(page.get_by_test_id("breakdown-off")).to_be_visible()
    expect(page.locator('#filters input[name="by"]')).to_have_value("model")
    settle(page, console_errors, "a slowest model")

    # Two narrowing filters at once: the reason shows inside the panels, the page stays whole.
    page.get_by_label("Route").fill("/chat")
    with page.expect_response(re.compile(r"/latency/\?")) as answer:
        page.get_by_label("Route").press("Enter")
    assert answer.value.status == 400
    expect(page.locator("#panels .error-panel")).to_contain_text("one of route, model or prompt at a time")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.get_by_role("heading", name="Latency", level=1)).to_be_visible()
