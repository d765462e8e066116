"""eval.failing: the latest run of each suite of a prompt's newest version, against the floor."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from opsdash.alerts.evaluation import evaluate
from opsdash.alerts.models import Alert
from opsdash.ingest.evals import ingest_evals

pytestmark = pytest.mark.django_db


def run(version: str, passed: int, total: int = 10, suite: str = "golden", hours_ago: float = 1.0) -> None:
    ts = timezone.now() - dt.timedelta(hours=hours_ago)
    run_id = f"{suite}-{version}-{ts:%H%M%S%f}"
    results = [
        {
            "run_id": run_id,
            "ts": ts.isoformat(),
            "suite": suite,
            "prompt_id": "support-reply",
            "prompt_version": version,
            "model": "claude-sonnet-4",
            "case_id": f"case-{i}",
            "metric": "faithfulness",
            "passed": i < passed,
        }
        for i in range(total)
    ]
    assert ingest_evals(results).accepted == total


def alerts() -> list[tuple[str, str]]:
    return list(Alert.objects.order_by("id").values_list("subject", "state"))


def test_it_raises_an_alert_for_a_new_version_failing_its_latest_run(db):
    run("v7", 9, hours_ago=30)
    evaluate()
    assert alerts() == []
    run("v8", 5, hours_ago=3)
    run("v8", 9, suite="safety", hours_ago=3)
    evaluate()
    alert = Alert.objects.get()
    assert (alert.rule, alert.subject, alert.state, alert.tenant) == (
        "eval.failing",
        "prompt:support-reply@v8",
        "open",
        None,
    )
    assert alert.title == "support-reply v8: latest golden eval run passes 50%"
    assert "golden: 5 of 10 results passed (50%)" in alert.detail
    assert "safety" not in alert.detail
    assert alert.path == "/evals/?prompt=support-reply@v8&range=7d"
    evaluate()
    assert Alert.objects.count() == 1


def later(minutes: int) -> dt.datetime:
    return timezone.now() + dt.timedelta(minutes=minutes)


def test_it_resolves_it_once_a_later_run_passes_for_the_quiet_period(db):
    run("v8", 4, hours_ago=3)
    evaluate()
    run("v8", 8, hours_ago=1)
    evaluate()
    assert alerts() == [("prompt:support-reply@v8", "open")]
    evaluate(later(31))
    assert alerts() == [("prompt:support-reply@v8", "resolved")]


def test_it_keeps_it_open_while_a_later_run_passes_just_above_the_floor(db):
    # 70 % opens; the alert resolves only at 75 % or more (the floor plus 5 points).
    run("v8", 4, hours_ago=3)
    evaluate()
    run("v8", 72, total=100, hours_ago=1)
    evaluate(later(120))
    assert alerts() == [("prompt:support-reply@v8", "open")]


def test_it_resolves_it_when_a_newer_version_passes(db):
    run("v8", 4, hours_ago=3)
    evaluate()
    run("v9", 10, hours_ago=1)
    evaluate()
    assert alerts() == [("prompt:support-reply@v8", "open")]
    evaluate(later(31))
    assert alerts() == [("prompt:support-reply@v8", "resolved")]


def test_it_ignores_runs_older_than_a_week(db):
    run("v8", 1, hours_ago=24 * 8)
    evaluate()
    assert alerts() == []
