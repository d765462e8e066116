"""Eval results from CI: checked by the contract in validation.py, stored by
opsdash.evals.services.record_results."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from opsdash.evals import services as evals
from opsdash.ingest.events import IngestResult, Rejection
from opsdash.ingest.validation import Problem, validate_results


def ingest_evals(records: list[object]) -> IngestResult:
    """Store the valid, not yet seen eval results of ``records`` (dicts per the contract)."""
    if not isinstance(records, list):
        records = list(records)
    now = timezone.now()
    result = IngestResult()
    rows: list[tuple[Any, ...]] = []
    seen: set[tuple[str, str, str]] = set()
    for index, checked in enumerate(validate_results(records, now)):
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
