"""Cells for CSV files that spreadsheets open as text, never as formulas.

A CSV export can carry text that someone else chose (a tenant slug, a route, a user
name). Excel, LibreOffice and Google Sheets run a cell starting with ``=``, ``+``, ``-``
or ``@`` as a formula, and tab or carriage return let such a cell slip past a check of
the first character, so opening the file could fetch URLs or run commands. As OWASP
recommends, such a cell gets a leading single quote, which spreadsheets show as text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

# Text that is only a number, as the exports write amounts ("-0.500000"): a spreadsheet
# reads it as that number, not a formula, so quoting it would only spoil the figure.
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def safe_cell(value: object) -> object:
    """The value to hand to ``csv.writer``: numbers and None as they are, text that a
    spreadsheet would run as a formula prefixed with ``'``."""
    if value is None or isinstance(value, int | float | Decimal):
        return value
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def safe_row(values: Iterable[object]) -> list[object]:
    return [safe_cell(value) for value in values]
