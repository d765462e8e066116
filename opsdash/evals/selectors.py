"""Reads over eval results: which prompt versions fail, and which cases."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Count, Max, Min, Q, QuerySet

from opsdash.evals.models import EvalResult

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


def _window(start: dt.datetime, end: dt.datetime, prompt_id: str = "") -> QuerySet[EvalResult]:
    results = EvalResult.objects.filter(ts__gte=start, ts__lt=end)
    if prompt_id:
        results = results.filter(prompt_id=prompt_id)
    return results


# Runs, distinct cases and per-metric counts of every prompt version in one hashed scan:
# COUNT(DISTINCT ...) would sort all results of the window instead.
_VERSIONS_SQL = """
SELECT prompt_id, prompt_version, GROUPING(run_id, case_id, metric) AS level, metric,
    count(*) AS n, count(*) FILTER (WHERE NOT passed) AS failed, min(ts), max(ts)
FROM evals_evalresult
WHERE ts >= %s AND ts < %s {prompt}
GROUP BY GROUPING SETS ((prompt_id, prompt_version, run_id), (prompt_id, prompt_version, case_id),
                        (prompt_id, prompt_version, metric))
"""
_BY_RUN, _BY_CASE, _BY_METRIC = 0b011, 0b101, 0b110


def prompt_versions(start: dt.datetime, end: dt.datetime, prompt_id: str = "") -> list[PromptVersionStats]:
    """Prompt versions with results in the window, worst failure rate first."""
    params: list[Any] = [start, end]
    if prompt_id:
        params.append(prompt_id)
    with connection.cursor() as cursor:
        cursor.execute(_VERSIONS_SQL.format(prompt="AND prompt_id = %s" if prompt_id else ""), params)
        rows = cursor.fetchall()
    stats: dict[tuple[str, str], PromptVersionStats] = {}
    cases: dict[tuple[str, str], int] = defaultdict(int)
    metrics: dict[tuple[str, str], list[tuple[str, int, int]]] = defaultdict(list)
    for pid, version, level, metric, n, failed, first, last in rows:
        key = (pid, version)
        if level == _BY_RUN:
            s = stats.get(key)
            if s is None:
                stats[key] = PromptVersionStats(pid, version, n, failed, 1, 0, first, last)
            else:
                s.results, s.failures, s.runs = s.results + n, s.failures + failed, s.runs + 1
                s.first_seen, s.last_seen = min(s.first_seen, first), max(s.last_seen, last)
        elif level == _BY_CASE:
            cases[key] += 1
        elif level == _BY_METRIC and failed:
            metrics[key].append((metric, failed, n))
    if not stats:
        return []
    for key, s in stats.items():
        s.cases = cases[key]
        s.failing_metrics = sorted(metrics[key], key=lambda item: -item[1] / item[2])
    _attach_previous_versions(stats)
    return sorted(stats.values(), key=lambda s: (-s.failure_rate, -s.results, s.prompt))


def _attach_previous_versions(stats: dict[tuple[str, str], PromptVersionStats]) -> None:
    """The version released before each one (by first result), with its failure rate over all time."""
    prompt_ids = {key[0] for key in stats}
    history = (
        EvalResult.objects.filter(prompt_id__in=prompt_ids)
        .values("prompt_id", "prompt_version")
        .annotate(first=Min("ts"), results=Count("id"), failures=Count("id", filter=Q(passed=False)))
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
            s.previous_failure_rate = before["failures"] / before["results"] if before["results"] else None


def failing_prompt_count(start: dt.datetime, end: dt.datetime) -> int:
    """How many prompt versions fail at least FAILING_RATE of their results in the window
    (the overview tile: one aggregation, none of the per-metric detail)."""
    rows = (
        _window(start, end)
        .values("prompt_id", "prompt_version")
        .annotate(results=Count("id"), failures=Count("id", filter=Q(passed=False)))
    )
    return sum(1 for r in rows if r["failures"] / r["results"] >= FAILING_RATE)


def runs_of(prompt_id: str, prompt_version: str, start: dt.datetime, end: dt.datetime) -> list[Any]:
    return list(
        _window(start, end, prompt_id)
        .filter(prompt_version=prompt_version)
        .values("run_id", "suite", "model")
        .annotate(
            started=Min("ts"),
            results=Count("id"),
            failures=Count("id", filter=Q(passed=False)),
            cases=Count("case_id", distinct=True),
        )
        .order_by("-started")
    )


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
        EvalResult.objects.filter(prompt_id=prompt_id)
        .values(column)
        .annotate(first=Min("ts"))
        .order_by("first", column)
        .values_list(column, flat=True)
    )


def suites_of(prompt_id: str) -> list[str]:
    return list(
        EvalResult.objects.filter(prompt_id=prompt_id).values_list("suite", flat=True).distinct().order_by("suite")
    )


def known_prompt_ids(limit: int = 200) -> list[str]:
    """Prompt ids with eval results, most recently evaluated first (for a picker)."""
    return list(
        EvalResult.objects.values("prompt_id")
        .annotate(last=Max("ts"))
        .order_by("-last", "prompt_id")
        .values_list("prompt_id", flat=True)[:limit]
    )
