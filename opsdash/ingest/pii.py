"""Redaction of personal data and secrets in free text (messages, safety excerpts).

Replaces, in this order: secret-looking keys, e-mail addresses, card numbers that pass
the Luhn check, and phone numbers, each by a bracketed tag. Errs on the side of
redacting: a long random-looking token is treated as a secret.
"""

from __future__ import annotations

import re

_SECRET = re.compile(
    r"""
    \bsk-(?:proj-|live-|test-|ant-)?[A-Za-z0-9_\-]{16,}      # OpenAI / Anthropic / Stripe-style keys
    | \b(?:AKIA|ASIA)[0-9A-Z]{16}\b                          # AWS access key ids
    | \bgh[pousr]_[A-Za-z0-9]{30,}\b                         # GitHub tokens
    | \bxox[abposr]-[A-Za-z0-9\-]{10,}                       # Slack tokens
    | \bAIza[0-9A-Za-z_\-]{35}\b                             # Google API keys
    | \beyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}  # JWTs
    | \b[0-9a-fA-F]{32,}\b                                   # long hex (hashes, tokens)
    """,
    re.VERBOSE,
)
# Long base64/url-safe runs mixing letters and digits look like tokens; plain long words do not.
_TOKEN = re.compile(r"(?<![A-Za-z0-9+/_\-])[A-Za-z0-9+/_\-]{32,}={0,2}")
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"(?<![\d\-])\d(?:[ \-]?\d){12,18}(?![\d\-])")
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .\-]?)?(?:\(\d{1,4}\)[ .\-]?)?\d{2,5}(?:[ .\-]?\d{2,5}){1,4}(?!\w)")

_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4}")

SECRET_TAG = "[secret]"  # noqa: S105 - the replacement text, not a secret
EMAIL_TAG = "[email]"
CARD_TAG = "[card]"
PHONE_TAG = "[phone]"


def luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _token(match: re.Match[str]) -> str:
    text = match.group(0)
    has_digit = any(c.isdigit() for c in text)
    has_alpha = any(c.isalpha() for c in text)
    return SECRET_TAG if has_digit and has_alpha else text


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return CARD_TAG if 13 <= len(digits) <= 19 and luhn_ok(digits) else match.group(0)


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(c.isdigit() for c in text)
    # E.164 numbers have at most 15 digits; fewer than 7 is a quantity or a year.
    if not 7 <= digits <= 15:
        return text
    if _DATE.fullmatch(text):
        return text
    # A bare run of digits with no separator or country code is more likely an id.
    if text.isdigit() and digits < 10:
        return text
    return PHONE_TAG


def redact(text: str) -> str:
    if not text:
        return text
    text = _SECRET.sub(SECRET_TAG, text)
    text = _TOKEN.sub(_token, text)
    text = _EMAIL.sub(EMAIL_TAG, text)
    text = _CARD.sub(_card, text)
    return _PHONE.sub(_phone, text)
