"""Reads over eval results: which prompt versions fail, and which cases."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Count, Max, Min, Q, QuerySet, Sum

from opsdash.evals.models import EvalResult, EvalRunMetric

# A prompt version whose results fail this often over the window counts as failing.
FAILING_RATE = 0.10


@dataclass
class PromptVersionStats:
    prompt_id: str
    prompt_version: str
    results: int
    failures: int
    runs: int
    cases: int
    first_seen: dt.datetime
    last_seen: dt.datetime
    failing_metrics: list[tuple[str, int, int]] = field(default_factory=list)  # (metric, failed, total)
    previous_version: str | None = None
    previous_failure_rate: float | None = None
    production_error_rate: float | None = None
    production_requests: int = 0
    # Query string of the page comparing this version with the previous one ("" without one).
    compare_query: str = ""

    @property
    def failure_rate(self) -> float:
        return self.failures / self.results if self.results else 0.0

    @property
    def change(self) -> float | None:
        if self.previous_failure_rate is None:
            return None
        return self.failure_rate - self.previous_failure_rate

    @property
    def prompt(self) -> str:
        return f"{self.prompt_id}@{self.prompt_version}"


def _window(start: dt.datetime, end: dt.datetime, prompt_id: str = "") -> QuerySet[EvalRunMetric]:
    """The run summaries of runs with results in the window (a run counts whole)."""
    rows = EvalRunMetric.objects.filter(last_ts__gte=start, first_ts__lt=end)
    if prompt_id:
        rows = rows.filter(prompt_id=prompt_id)
    return rows


# Per prompt version: its totals, runs and cases (the most cases one metric of one run
# evaluated), then per metric; from the run summaries, never the results themselves.
_VERSIONS_SQL = """
WITH m AS (
    SELECT * FROM evals_evalrunmetric WHERE last_ts >= %s AND first_ts < %s {prompt}
)
SELECT prompt_id, prompt_version, NULL AS metric, sum(results), sum(failures),
       count(DISTINCT (run_id, suite, model)), max(results), min(first_ts), max(last_ts)
FROM m GROUP BY 1, 2
UNION ALL
SELECT prompt_id, prompt_version, metric, sum(results), sum(failures), 0, 0, NULL, NULL
FROM m GROUP BY 1, 2, 3
"""


def prompt_versions(start: dt.datetime, end: dt.datetime, prompt_id: str = "") -> list[PromptVersionStats]:
    """Prompt versions with results in the window, worst failure rate first."""
    params: list[Any] = [start, end]
    if prompt_id:
        params.append(prompt_id)
    with connection.cursor() as cursor:
        cursor.execute(_VERSIONS_SQL.format(prompt="AND prompt_id = %s" if prompt_id else ""), params)
        rows = cursor.fetchall()
    stats: dict[tuple[str, str], PromptVersionStats] = {}
    metrics: dict[tuple[str, str], list[tuple[str, int, int]]] = defaultdict(list)
    for pid, version, metric, n, failed, runs, cases, first, last in rows:
        if metric is None:
            stats[(pid, version)] = PromptVersionStats(pid, version, n, failed, runs, cases, first, last)
        elif failed:
            metrics[(pid, version)].append((metric, int(failed), int(n)))
    if not stats:
        return []
    for key, s in stats.items():
        s.results, s.failures = int(s.results), int(s.failures)
        s.failing_metrics = sorted(metrics[key], key=lambda item: (-item[1] / item[2], item[0]))
    _attach_previous_versions(stats)
    return sorted(stats.values(), key=lambda s: (-s.failure_rate, -s.results, s.prompt))


def _attach_previous_versions(stats: dict[tuple[str, str], PromptVersionStats]) -> None:
    """The version released before each one (by first result), with its failure rate over all time."""
    prompt_ids = {key[0] for key in stats}
    history = (
        EvalRunMetric.objects.filter(prompt_id__in=prompt_ids)
        .values("prompt_id", "prompt_version")
        .annotate(first=Min("first_ts"), total=Sum("results"), failed=Sum("failures"))
        .order_by("prompt_id", "first")
    )
    by_prompt: dict[str, list[Any]] = defaultdict(list)
    for row in history:
        by_prompt[row["prompt_id"]].append(row)
    for (prompt_id, version), s in stats.items():
        versions = by_prompt[prompt_id]
        position = next((i for i, v in enumerate(versions) if v["prompt_version"] == version), None)
        if position:
            before = versions[position - 1]
            s.previous_version = before["prompt_version"]
            s.previous_failure_rate = before["failed"] / before["total"] if before["total"] else None


def failing_prompt_count(start: dt.datetime, end: dt.datetime) -> int:
    """How many prompt versions fail at least FAILING_RATE of their results in the window
    (the overview tile: one aggregation, none of the per-metric detail)."""
    rows = (
        _window(start, end)
        .values("prompt_id", "prompt_version")
        .annotate(total=Sum("results"), failed=Sum("failures"))
        .order_by()
    )
    return sum(1 for r in rows if r["total"] and r["failed"] / r["total"] >= FAILING_RATE)


def runs_of(prompt_id: str, prompt_version: str, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    rows = (
        _window(start, end, prompt_id)
        .filter(prompt_version=prompt_version)
        .values("run_id", "suite", "model")
        .annotate(started=Min("first_ts"), total=Sum("results"), failed=Sum("failures"), most=Max("results"))
        .order_by("-started", "-run_id", "suite", "model")
    )
    return [
        {
            "run_id": r["run_id"],
            "suite": r["suite"],
            "model": r["model"],
            "started": r["started"],
            "results": r["total"],
            "failures": r["failed"],
            "cases": r["most"],
        }
        for r in rows
    ]


def failing_cases(run_id: str) -> QuerySet[EvalResult]:
    return EvalResult.objects.filter(run_id=run_id, passed=False).order_by("case_id", "metric")


def run_summary(run_id: str) -> Any:
    return (
        EvalResult.objects.filter(run_id=run_id)
        .values("run_id", "suite", "prompt_id", "prompt_version", "model", "model_hash")
        .annotate(started=Min("ts"), results=Count("id"), failures=Count("id", filter=Q(passed=False)))
        .order_by("run_id")
        .first()
    )


# --- for the compare page ------------------------------------------------------------------------


def released_in_order(prompt_id: str, by: str = "version") -> list[str]:
    """Versions (or models, with ``by="model"``) of a prompt with eval results, by their first result."""
    column = "model" if by == "model" else "prompt_version"
    return list(
        EvalRunMetric.objects.filter(prompt_id=prompt_id)
        .values(column)
        .annotate(first=Min("first_ts"))
        .order_by("first", column)
        .values_list(column, flat=True)
    )


def suites_of(prompt_id: str) -> list[str]:
    return list(
        EvalRunMetric.objects.filter(prompt_id=prompt_id).values_list("suite", flat=True).distinct().order_by("suite")
    )


def known_prompt_ids(limit: int = 200) -> list[str]:
    """Prompt ids with eval results, most recently evaluated first (for a picker)."""
    return list(
        EvalRunMetric.objects.values("prompt_id")
        .annotate(last=Max("last_ts"))
        .order_by("-last", "prompt_id")
        .values_list("prompt_id", flat=True)[:limit]
    )


# A prompt version judged on fewer results than this is not called failing on the overview.
FAILING_MIN_RESULTS = 20


def failing_versions(start: dt.datetime, end: dt.datetime) -> list[PromptVersionStats]:
    """Prompt versions failing at least FAILING_RATE of their eval results in the window
    (and judged on FAILING_MIN_RESULTS or more), worst first, then by name."""
    return [
        v for v in prompt_versions(start, end) if v.results >= FAILING_MIN_RESULTS and v.failure_rate >= FAILING_RATE
    ]
