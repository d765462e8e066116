"""The content security policy stops scripts injected into a page, and says so."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)

INJECT_INLINE_SCRIPT = """() => {
    const script = document.createElement("script");
    script.textContent = "window.injected = true";
    document.body.append(script);
}"""


def test_it_blocks_an_injected_inline_script(page, login, console_errors, alice):
    login(page, "alice")
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    page.wait_for_load_state("load")
    assert console_errors == []

    # What an HTML injection would add: an inline script without the page's nonce.
    with page.expect_console_message(lambda message: message.type == "error") as refused:
        page.evaluate(INJECT_INLINE_SCRIPT)

    assert "Content Security Policy" in refused.value.text
    assert page.evaluate("window.injected") is None
    # The collector the other browser tests rely on catches it too.
    assert any("Content Security Policy" in error for error in console_errors)
