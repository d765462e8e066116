"""Redaction of personal data and secrets in stored text."""

from __future__ import annotations

import pytest

from opsdash.ingest.pii import luhn_ok, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to jane.doe+work@example.co.uk today", "write to [email] today"),
        ("call +1 415 555 0132 now", "call [phone] now"),
        ("call (415) 555-0132", "call [phone]"),
        ("ring 020 7946 0958", "ring [phone]"),
        ("card 4111 1111 1111 1111 exp 12/29", "card [card] exp 12/29"),
        ("card 5500-0000-0000-0004", "card [card]"),
        ("key sk-proj-Abcdefghijklmnop0123", "key [secret]"),
        ("aws AKIAIOSFODNN7EXAMPLE", "aws [secret]"),
        ("gh ghp_abcdefghijklmnopqrstuvwxyz0123456789", "gh [secret]"),
        ("sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "sha [secret]"),
        ("token dGhpcyBpcyBhIHNlY3JldCB0b2tlbiAxMjM0NTY3ODkw==", "token [secret]"),
    ],
)
def test_it_redacts(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "In 2024 we sold 1500 units; order 12345 ships on 2025-01-31.",
        "version 1.2.3 at 10:30, 99.5% uptime",
        "4111 1111 1111 1112 fails the Luhn check",
        "internationalisation-and-localisation-considerations",
        "",
    ],
)
def test_it_leaves_ordinary_text_alone(text):
    assert redact(text) == text


def test_it_checks_card_numbers_with_luhn():
    assert luhn_ok("4111111111111111")
    assert not luhn_ok("4111111111111112")
