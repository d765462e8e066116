"""The beat task: idempotent, one at a time, and a failing rule does not stop the others."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.conf import settings
from django.db import connection, transaction

from opsdash.alerts import evaluation
from opsdash.alerts.models import Alert
from opsdash.alerts.tasks import evaluate as evaluate_task
from tests.alerts.conftest import event, send


def test_beat_runs_the_task_every_minute():
    entry = settings.CELERY_BEAT_SCHEDULE["alerts-evaluate"]
    assert entry["task"] == evaluate_task.name == "opsdash.alerts.evaluate"
    assert entry["schedule"] == 60.0
    assert evaluate_task.time_limit is not None
    assert evaluate_task.time_limit < entry["schedule"]


def test_it_changes_nothing_the_second_time(rollups, clock, acme, eager_celery):
    now = clock.at(dt.datetime(2026, 11, 10, 10, 0, tzinfo=dt.UTC))
    send([event(now - dt.timedelta(minutes=3), cost_usd=95.0)])
    first = evaluate_task.delay().get()
    again = evaluate_task.delay().get()
    assert first["opened"] == 1
    assert again == {"opened": 0, "reopened": 0, "resolved": 0, "paused": 0, "resumed": 0, "failed": []}
    assert Alert.objects.count() == 1


def test_it_skips_while_another_evaluation_runs(transactional_db):
    holding, release = threading.Event(), threading.Event()

    def other_worker() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [evaluation._EVAL_LOCK])
            holding.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert holding.wait(10)
        assert evaluation.evaluate() is None
        assert evaluate_task.apply().get() == {"skipped": "another evaluation is running"}
    finally:
        release.set()
        thread.join()
    assert evaluation.evaluate() is not None


def test_a_failing_rule_leaves_the_others_working(rollups, clock, acme, monkeypatch):
    def broken(*args: object, **kwargs: object) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT no_such_column FROM alerts_slo")

    monkeypatch.setattr(evaluation, "evaluate_slos", broken)
    now = clock.at(dt.datetime(2026, 11, 10, 10, 0, tzinfo=dt.UTC))
    send([event(now - dt.timedelta(minutes=3), cost_usd=75.0)])
    report = evaluation.evaluate()
    assert report is not None
    assert report.failed == ["slos"]
    assert Alert.objects.get().rule == "budget.daily"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("70,ninety,100", "is not a list of whole percentages"),
        ("90,70", "in increasing order"),
        ("0,50", "between 1 and 1000"),
        ("", "in increasing order"),
    ],
)
def test_it_refuses_bad_budget_thresholds_at_start_up(tmp_path, value, says):
    from tests.lib.test_settings_startup import assert_one_sentence, run_manage

    result = run_manage(
        "check",
        OPSDASH_DEBUG="1",
        OPSDASH_DATA_DIR=str(tmp_path),
        DATABASE_URL="postgres://u@127.0.0.1:1/x",
        OPSDASH_BUDGET_ALERT_THRESHOLDS=value,
    )
    assert_one_sentence(result, f"OPSDASH_BUDGET_ALERT_THRESHOLDS={value!r}")
    assert says in result.stderr
