"""Writes of eval results: the ingest behind POST /api/v1/evals.

(run_id, case_id, metric) is unique: a result sent again is counted as a duplicate and
changes nothing, so a CI job may retry its upload freely.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import orjson
import psycopg
from django.db import connection, transaction
from django.utils import timezone

from opsdash.telemetry.ingest import IngestResult, Rejection
from opsdash.telemetry.validation import (
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

# The rows travel as one JSON document: psycopg dumps Python lists into arrays in pure
# Python, ~20 ms per 1,000 values and column; orjson and json_to_recordset take ~1 ms.
INSERT_SQL = """
INSERT INTO evals_evalresult (run_id, ts, suite, prompt_id, prompt_version, model, model_hash, case_id,
    metric, passed, score, threshold, language, cost_usd, detail, created_at)
SELECT r.*, now() FROM json_to_recordset(%s::json) AS r(run_id text, ts timestamptz, suite text,
    prompt_id text, prompt_version text, model text, model_hash text, case_id text, metric text,
    passed boolean, score float8, threshold float8, language text, cost_usd numeric, detail text)
ON CONFLICT (run_id, case_id, metric) DO NOTHING
"""
FIELDS = (
    "run_id",
    "ts",
    "suite",
    "prompt_id",
    "prompt_version",
    "model",
    "model_hash",
    "case_id",
    "metric",
    "passed",
    "score",
    "threshold",
    "language",
    "cost_usd",
    "detail",
)


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
    # Sorted by the unique key, so concurrent uploads sharing results cannot deadlock.
    rows.sort(key=lambda r: (r[0], r[7], r[8]))
    with transaction.atomic():
        connection.ensure_connection()
        document = orjson.dumps([dict(zip(FIELDS, row, strict=True)) for row in rows], default=str)
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(INSERT_SQL, [document.decode()])
            inserted = cursor.rowcount
    result.accepted = inserted
    result.duplicates += len(rows) - inserted
    return result
