from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from opsdash.evals import selectors
from opsdash.evals.models import EvalResult


@pytest.mark.django_db
def test_it_counts_the_versions_that_fail_at_least_the_failing_rate():
    now = timezone.now()
    # Failure rates 5 %, exactly the failing rate, 60 %; and one version outside the window.
    for version, failed, ts in (
        ("v1", 1, now),
        ("v2", 2, now),
        ("v3", 12, now),
        ("v0", 20, now - dt.timedelta(days=9)),
    ):
        EvalResult.objects.bulk_create(
            EvalResult(run_id=f"run-{version}", ts=ts, suite="golden", prompt_id="answer", prompt_version=version,
                       model="m", case_id=f"c{i}", metric="exact", passed=i >= failed)
            for i in range(20)
        )  # fmt: skip
    week = (now - dt.timedelta(days=7), now + dt.timedelta(minutes=1))
    assert pytest.approx(0.10) == selectors.FAILING_RATE
    assert selectors.failing_prompt_count(*week) == 2
    failing = [s for s in selectors.prompt_versions(*week) if s.failure_rate >= selectors.FAILING_RATE]
    assert selectors.failing_prompt_count(*week) == len(failing)
