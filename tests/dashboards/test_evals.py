from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from opsdash.evals.models import EvalResult


@pytest.fixture
def eval_runs(db, traffic):
    """answer@v1 passes its golden suite; answer@v2, released later, fails it a third of the time."""
    now = timezone.now()
    rows = []
    for version, fail_every, day in (("v1", 0, 3), ("v2", 3, 1)):
        for case in range(30):
            for metric in ("exact_match", "groundedness"):
                failed = bool(fail_every) and metric == "groundedness" and case % fail_every == 0
                rows.append(EvalResult(
                    run_id=f"run-{version}", ts=now - dt.timedelta(days=day), suite="golden", prompt_id="answer",
                    prompt_version=version, model="big-2", case_id=f"c{case}", metric=metric, passed=not failed,
                    score=0.2 if failed else 0.9, threshold=0.7,
                ))  # fmt: skip
    EvalResult.objects.bulk_create(rows)


def test_it_ranks_prompt_versions_by_failure_rate(client, alice, eval_runs):
    client.force_login(alice)
    response = client.get("/evals/?range=7d")
    versions = response.context["versions"]
    assert [v.prompt for v in versions] == ["answer@v2", "answer@v1"]
    v2 = versions[0]
    assert v2.failures == 10
    assert v2.results == 60
    assert v2.failure_rate == pytest.approx(10 / 60)
    assert v2.previous_version == "v1"
    assert v2.change == pytest.approx(10 / 60)
    assert v2.failing_metrics == [("groundedness", 10, 30)]
    assert b"failing" in response.content


def test_it_shows_the_production_error_rate_of_the_same_version(client, alice, eval_runs, traffic):
    client.force_login(alice)
    v2 = client.get("/evals/?range=7d").context["versions"][0]
    sent = [e for e in traffic if e["prompt_version"] == "v2"]
    failed = [e for e in sent if e["status"] in ("error", "timeout")]
    assert v2.production_requests == len(sent)
    assert v2.production_error_rate == pytest.approx(len(failed) / len(sent))


def test_it_drills_down_to_the_failing_cases_of_a_run(client, alice, eval_runs):
    client.force_login(alice)
    response = client.get("/evals/?range=7d&prompt=answer@v2")
    assert [r["run_id"] for r in response.context["runs"]] == ["run-v2"]
    response = client.get("/evals/runs/run-v2/")
    cases = list(response.context["page"].object_list)
    assert len(cases) == 10
    assert {c.metric for c in cases} == {"groundedness"}
    assert client.get("/evals/runs/nope/").status_code == 404


def test_it_says_when_there_are_no_results(client, alice, db, traffic):
    client.force_login(alice)
    response = client.get("/evals/?range=1h")
    assert b"No eval results in this range" in response.content


def test_the_overview_counts_failing_prompts(client, alice, eval_runs):
    client.force_login(alice)
    assert client.get("/").context["failing_prompts"] == 1
