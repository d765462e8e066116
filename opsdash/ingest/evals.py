"""Eval results from CI: checked here, stored by opsdash.evals.services.record_results."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone

from opsdash.evals import services as evals
from opsdash.ingest.events import IngestResult, Rejection
from opsdash.ingest.validation import (
    MAX_COST_USD,
    Problem,
    check_number,
    check_string,
    parse_ts,
    type_name,
)

# (field, max length, required) of the string fields, in the order they are checked.
STRINGS = (
    ("run_id", 128, True),
    ("suite", 200, True),
    ("prompt_id", 200, True),
    ("prompt_version", 100, True),
    ("model", 200, True),
    ("model_hash", 128, False),
    ("case_id", 200, True),
    ("metric", 100, True),
    ("language", 35, False),
)
MAX_DETAIL = 10_000


def validate_result(record: object, now: dt.datetime) -> tuple[Any, ...] | Problem:
    if type(record) is not dict:
        return Problem("result", f"must be an object, got {type_name(record)}")
    get = record.get
    values: dict[str, Any] = {}
    for name, max_len, required in STRINGS:
        value = get(name)
        if value is None:
            if required:
                return Problem(name, "is required")
            values[name] = ""
            continue
        if problem := check_string(value, name, max_len):
            return problem
        values[name] = value
    ts = get("ts")
    if ts is None:
        return Problem("ts", "is required")
    ts = parse_ts(ts, now, None)
    if type(ts) is Problem:
        return ts
    passed = get("passed")
    if passed is None:
        return Problem("passed", "is required")
    if type(passed) is not bool:
        return Problem("passed", f"must be true or false, got {type_name(passed)}")
    numbers: dict[str, Any] = {}
    for name, high in (("score", 1.0), ("threshold", 1.0), ("cost_usd", MAX_COST_USD)):
        value = get(name)
        if value is not None and (problem := check_number(value, name, 0, high)):
            return problem
        numbers[name] = value
    detail = get("detail")
    if detail is None or detail == "":
        detail = ""
    elif problem := check_string(detail, "detail", MAX_DETAIL):
        return problem
    cost = numbers["cost_usd"]
    if cost is not None:
        cost = Decimal(repr(cost)) if type(cost) is float else Decimal(cost)
    score, threshold = numbers["score"], numbers["threshold"]
    return (
        values["run_id"],
        ts,
        values["suite"],
        values["prompt_id"],
        values["prompt_version"],
        values["model"],
        values["model_hash"],
        values["case_id"],
        values["metric"],
        passed,
        float(score) if score is not None else None,
        float(threshold) if threshold is not None else None,
        values["language"],
        cost,
        detail,
    )


def ingest_evals(records: list[object]) -> IngestResult:
    """Store the valid, not yet seen eval results of ``records`` (dicts per the contract)."""
    if not isinstance(records, list):
        records = list(records)
    now = timezone.now()
    result = IngestResult()
    rows: list[tuple[Any, ...]] = []
    seen: set[tuple[str, str, str]] = set()
    for index, record in enumerate(records):
        checked = validate_result(record, now)
        if type(checked) is Problem:
            result.rejected.append(Rejection(index, checked.field, checked.error))
            continue
        key = (checked[0], checked[7], checked[8])  # type: ignore[index]
        if key in seen:
            result.duplicates += 1
            continue
        seen.add(key)
        rows.append(checked)  # type: ignore[arg-type]
    if not rows:
        return result
    inserted = evals.record_results(rows)
    result.accepted = inserted
    result.duplicates += len(rows) - inserted
    return result
