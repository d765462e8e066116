"""The run summaries (EvalRunMetric) the evals pages read: always the sums of the results,
however the results were written, retried or removed."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.db import connection
from django.db.models import Count, Max, Min, Q

from opsdash.evals.models import EvalResult, EvalRunMetric
from opsdash.ingest.evals import ingest_evals
from tests.evals.test_evals_api import make_result

pytestmark = pytest.mark.django_db

KEY = ("prompt_id", "prompt_version", "run_id", "suite", "model", "metric")


def summed_from_results() -> set[tuple[object, ...]]:
    rows = (
        EvalResult.objects.values(*KEY)
        .annotate(first=Min("ts"), last=Max("ts"), n=Count("id"), failed=Count("id", filter=Q(passed=False)))
        .order_by()
    )
    return {(*(r[k] for k in KEY), r["first"], r["last"], r["n"], r["failed"]) for r in rows}


def summaries() -> set[tuple[object, ...]]:
    return set(EvalRunMetric.objects.values_list(*KEY, "first_ts", "last_ts", "results", "failures"))


def upload(n: int, run_id: str = "run-1", **fields: object) -> list[dict[str, object]]:
    return [
        make_result(run_id=run_id, case_id=f"case-{i}", passed=i % 4 != 0, metric=metric, **fields)
        for i in range(n)
        for metric in ("faithfulness", "relevance")
    ]


def test_it_adds_up_uploaded_results_per_run_and_metric():
    assert ingest_evals(upload(20)).accepted == 40
    assert ingest_evals(upload(5, run_id="run-2", prompt_version="v8")).accepted == 10
    assert summaries() == summed_from_results()
    row = EvalRunMetric.objects.get(run_id="run-1", metric="relevance")
    assert (row.results, row.failures) == (20, 5)


def test_it_does_not_count_a_retried_upload_twice():
    results = upload(10)
    ingest_evals(results)
    before = summaries()
    # The same upload again, and one that overlaps it with five new cases.
    assert ingest_evals(results).accepted == 0
    overlapping = results + [make_result(run_id="run-1", case_id=f"new-{i}", metric="relevance") for i in range(5)]
    assert ingest_evals(overlapping).accepted == 5
    assert summaries() == summed_from_results() != before
    assert EvalRunMetric.objects.get(run_id="run-1", metric="relevance").results == 15


def test_it_follows_results_written_without_the_api():
    now = dt.datetime.now(dt.UTC)
    EvalResult.objects.bulk_create(
        EvalResult(run_id="bulk", ts=now - dt.timedelta(minutes=i), suite="s", prompt_id="p", prompt_version="v1",
                   model="m", case_id=f"c{i}", metric="exact", passed=i % 3 != 0)
        for i in range(30)
    )  # fmt: skip
    row = EvalRunMetric.objects.get(run_id="bulk")
    assert (row.results, row.failures) == (30, 10)
    assert (row.first_ts, row.last_ts) == (now - dt.timedelta(minutes=29), now)


def test_it_adds_up_again_what_is_left_when_results_are_deleted():
    ingest_evals(upload(12) + upload(4, run_id="run-2"))
    EvalResult.objects.filter(run_id="run-1", case_id__in=["case-0", "case-1", "case-2"]).delete()
    assert summaries() == summed_from_results()
    assert EvalRunMetric.objects.get(run_id="run-1", metric="faithfulness").results == 9
    EvalResult.objects.filter(run_id="run-2").delete()
    assert not EvalRunMetric.objects.filter(run_id="run-2").exists()


def test_the_upgrade_adds_up_the_results_stored_before_it():
    ingest_evals(upload(8) + upload(3, run_id="run-2", suite="other"))
    migration = importlib.import_module("opsdash.evals.migrations.0002_evalrunmetric")
    expected = summaries()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM evals_evalrunmetric")
        cursor.execute(migration.BACKFILL_SQL)
    assert summaries() == expected == summed_from_results()
