"""Writes of eval results: what POST /api/v1/evals stores once opsdash.ingest has
checked it.

(run_id, case_id, metric) is unique: a result sent again is counted as a duplicate and
changes nothing, so a CI job may retry its upload freely.
"""

from __future__ import annotations

from typing import Any

import orjson
import psycopg
from django.db import connection, transaction

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


def record_results(rows: list[tuple[Any, ...]]) -> int:
    """Insert rows (in FIELDS order) whose key is new; returns how many were inserted."""
    # Sorted by the unique key, so concurrent uploads sharing results cannot deadlock.
    rows = sorted(rows, key=lambda r: (r[0], r[7], r[8]))
    with transaction.atomic():
        connection.ensure_connection()
        document = orjson.dumps([dict(zip(FIELDS, row, strict=True)) for row in rows], default=str)
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(INSERT_SQL, [document.decode()])
            return cursor.rowcount
