"""The demo's five stories found as an on-call engineer finds them: on the overview at
1440×900 the story's subject is named in "Needs attention" without scrolling, and one
click on that line reaches the page that shows it, the incident's window and the subject
chosen in the filter bar.

The demo is seeded at the pinned test instant (OPSDASH_TEST_NOW, which make
test-clock-sweep moves), as `make demo` seeds it at whatever hour it is started: the
stories sit at clock times relative to that hour (opsdash/core/demo/stories.py). Browser
tests otherwise run on the machine's clock (tests/conftest.py); here this process's clock,
the live server's included, is moved for the whole test. Chromium keeps the machine's
clock, which the pages do not depend on (cookies carry a Max-Age).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from opsdash.core.demo import catalog, stories
from opsdash.core.demo.generator import floor_hour
from opsdash.core.demo.traffic import DAY_MS
from tests.browser.ui import settle
from tests.conftest import make_user, pinned_now
from tests.telemetry.factories import truncate_raw

TENANTS = 4  # globex (over budget) is the second demo tenant, umbrella-health (the wave) the fourth
SIZES = ("--tenants", str(TENANTS), "--days", "3", "--events", "10000")
SCREEN = {"width": 1440, "height": 900}


@dataclass(frozen=True)
class Demo:
    story: stories.StoryPlan
    slugs: list[str]
    now: dt.datetime


def instant(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


@pytest.fixture
def demo(transactional_db):
    """The demo seeded at the pinned instant, the clock ticking on from there."""
    with time_machine.travel(pinned_now(), tick=True):
        truncate_raw()
        anchor = floor_hour(timezone.now())
        call_command("seed_demo", *SIZES, "--anchor", anchor.isoformat(), stdout=StringIO())
        make_user("alice", "admin")
        anchor_ms = int(anchor.timestamp() * 1000)
        story = stories.plan(anchor_ms - 3 * DAY_MS, anchor_ms, TENANTS)
        yield Demo(story, [catalog.tenant_profile(t).slug for t in range(TENANTS)], timezone.now())
    truncate_raw()


@dataclass(frozen=True)
class Story:
    name: str
    page: str  # the path the line leads to
    subject: str  # what the line and that page name
    also: str = ""  # a word the story's line has beside the subject (a tenant has other lines)

    def subject_of(self, demo: Demo) -> str:
        return {"budget": demo.slugs[demo.story.budget_tenant], "wave": demo.slugs[demo.story.wave_tenant]}.get(
            self.name, self.subject
        )

    def window(self, demo: Demo) -> tuple[dt.datetime, dt.datetime]:
        s = demo.story
        if self.name == "release":  # the bad version's eval runs, from its release on
            return instant(s.release_ms), instant(s.release_ms)
        window = {"incident": s.incident, "burst": s.burst, "budget": s.budget, "wave": s.wave}[self.name]
        return instant(window.start_ms), instant(window.end_ms)


STORIES = [
    Story("incident", "/latency/", catalog.INCIDENT_ROUTE),
    Story("burst", "/latency/", catalog.BURST_MODEL),
    Story("budget", "/cost/", "globex", also="budget"),
    Story("wave", "/safety/", "umbrella-health", also="jailbreak"),
    Story("release", "/evals/", f"{catalog.REGRESSING_PROMPT} {catalog.REGRESSING_TO}"),
]


def shown_range(page, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The range the filter bar shows: a preset counted back from now, or From and To."""
    preset = page.locator("#f-range").input_value()
    if preset == "custom":
        start, end = (page.locator(f"#f-{name}").input_value() for name in ("from", "to"))
        return (
            dt.datetime.fromisoformat(start).replace(tzinfo=dt.UTC),
            dt.datetime.fromisoformat(end).replace(tzinfo=dt.UTC),
        )
    span = {"1h": dt.timedelta(hours=1), "6h": dt.timedelta(hours=6), "24h": dt.timedelta(hours=24),
            "7d": dt.timedelta(days=7), "30d": dt.timedelta(days=30)}[preset]  # fmt: skip
    return now - span, now + dt.timedelta(hours=1)


@pytest.mark.parametrize("story", STORIES, ids=[s.name for s in STORIES])
def test_it_names_the_story_on_the_overview_and_one_click_shows_it(
    story, demo, page, login, console_errors, screenshot
):
    from playwright.sync_api import expect

    subject = story.subject_of(demo)
    page.set_viewport_size(SCREEN)
    login(page, "alice")
    page.goto("/")
    settle(page, console_errors, "/")

    # Named in "Needs attention", in full view of a 1440×900 window, nothing scrolled.
    attention = page.get_by_test_id("needs-attention")
    line = attention.get_by_test_id("attention-line").filter(has_text=subject).filter(has_text=story.also).first
    expect(line).to_be_visible()
    assert page.evaluate("window.scrollY") == 0
    box = line.bounding_box()
    assert box is not None
    assert box["y"] >= 0
    assert box["y"] + box["height"] <= SCREEN["height"], f"the {story.name} line is below the fold: {box}"
    screenshot(f"{story.name}-overview")

    # One click: the page that shows it, filtered to the subject, over the story's window.
    with page.expect_navigation():
        line.get_by_role("link").first.click()
    settle(page, console_errors, page.url)
    url = urlsplit(page.url)
    assert url.path == story.page
    query = parse_qs(url.query)
    named = subject.split(" ")[0]  # "support-reply v8": the prompt filter is support-reply@v8
    chosen = [(name, values[0]) for name, values in query.items() if named in values[0]]
    assert chosen, f"{page.url} does not choose {named}"
    # The filter bar shows it chosen (a select of tenants, a text box for the others).
    for name, value in chosen:
        expect(page.locator(f"#f-{name}")).to_have_value(value)
    if story.name in ("budget", "wave"):
        expect(page.locator("main")).to_contain_text(subject)
    start, end = shown_range(page, demo.now)
    story_start, story_end = story.window(demo)
    if story.name == "release":
        assert start <= demo.now, (start, demo.now)
        assert end > story_start, (end, story_start)
        expect(page.locator("main")).to_contain_text(catalog.REGRESSING_TO)
    else:
        assert start <= story_start, (start, story_start)
        assert story_end <= end + dt.timedelta(minutes=1), (end, story_end)
    screenshot(f"{story.name}-page")
