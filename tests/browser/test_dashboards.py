"""The dashboards in Chromium: charts draw, filters refresh the panels through htmx and
the URL, and Back restores the previous view."""

from __future__ import annotations

import re

from tests.browser.ui import settle


def back(page) -> None:
    """The Back button. htmx answers it by loading that URL afresh from the server; wait
    until that new document has loaded (the mark put on the old one is gone)."""
    from playwright.sync_api import Error, expect

    page.evaluate("document.documentElement.dataset.beforeBack = 'true'")
    try:
        page.go_back(wait_until="commit")
    except Error as exc:  # the reload replaces the history navigation Playwright watched
        if "ERR_ABORTED" not in str(exc):
            raise
    # Playwright retries the locator across the reload until the old document is gone
    # (wait_for_function would eval a string in the page, which the CSP refuses).
    expect(page.locator("html[data-before-back]"), "the page did not reload after Back").to_have_count(0)
    page.wait_for_load_state("load")


def drawn(page, chart_id: str):
    """The chart's SVG once plotly has drawn it."""
    chart = page.locator(f'[data-chart="{chart_id}"][data-drawn="true"]')
    chart.locator("svg.main-svg").first.wait_for()
    return chart


def test_it_draws_every_dashboard(page, login, console_errors, screenshot, alice, traffic):
    login(page, "alice")
    for path, charts in (
        ("/?range=24h", ["spark-requests", "spark-p95"]),
        ("/latency/?range=24h", ["chart-heatmap", "chart-quantiles", "chart-ttft", "chart-breakdown"]),
        ("/cost/?range=24h", ["chart-stacked", "chart-models"]),
        ("/safety/?range=24h", ["chart-kind", "chart-severity"]),
    ):
        page.goto(path)
        for chart in charts:
            drawn(page, chart)
        settle(page, console_errors, path)
        screenshot(path.strip("/").split("?")[0] or "overview")


def test_a_filter_refreshes_the_panels_and_the_url_and_back_restores(
    page, login, console_errors, screenshot, alice, traffic
):
    login(page, "alice")
    page.goto("/latency/?range=24h")
    drawn(page, "chart-heatmap")
    all_rows = page.get_by_test_id("slowest").locator("tbody tr").count()
    requests_before = page.get_by_test_id("slowest").inner_text()

    # Choosing a tenant swaps only #panels (no full load) and pushes the query string.
    page.evaluate("window.__same_document = true")
    with page.expect_response(re.compile(r"/latency/\?.*tenant=globex")):
        page.get_by_label("Tenant").select_option("globex")
    page.wait_for_url(re.compile(r"tenant=globex"))
    drawn(page, "chart-heatmap")
    assert page.evaluate("window.__same_document") is True
    assert page.get_by_test_id("slowest").inner_text() != requests_before
    screenshot("globex")

    # A row link narrows further, again through htmx.
    page.get_by_test_id("slowest").get_by_role("link").first.click()
    page.wait_for_url(re.compile(r"route="))
    screenshot("route")

    back(page)
    page.wait_for_url(re.compile(r"tenant=globex(?!.*route=)"))
    page.wait_for_load_state("load")
    assert page.get_by_label("Tenant").input_value() == "globex"
    back(page)
    page.wait_for_url(re.compile(r"/latency/\?range=24h$"))
    page.wait_for_load_state("load")
    drawn(page, "chart-heatmap")
    assert page.get_by_label("Tenant").input_value() == ""
    assert page.get_by_test_id("slowest").locator("tbody tr").count() == all_rows
    settle(page, console_errors, "latency after back")


def test_a_bad_filter_says_what_is_wrong(page, login, console_errors, alice, traffic):
    login(page, "alice")
    page.goto("/latency/?route=/chat&model=fast-1")
    assert "one of route, model or prompt at a time" in page.get_by_role("alert").inner_text()
    page.wait_for_load_state("load")
    # The page itself answers 400, which Chromium reports; nothing else may fail.
    assert [e for e in console_errors if "status of 400" not in e] == []
