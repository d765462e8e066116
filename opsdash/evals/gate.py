"""The eval gate: does a candidate prompt version do as well as its baseline?

Pure selection and comparison over EvalResult rows; the HTTP side (parameters, status
codes, JSON) is in ingest/evals_api.py and the compare page reuses the same run statistics.

Which runs are compared: the latest run (by its first result) of each version, unless a
run id is pinned. Runs of different suites measure different things, so both sides use one
suite: the one asked for, else the suite of a pinned run, else the suite of the candidate's
latest run.

What is compared, per metric: the share of the run's results on that metric that passed,
in percent. The candidate may lose at most ``max_drop_points`` percentage points on any
metric, and a metric the baseline has and the candidate lacks fails. Cost: a case costs
the sum of ``cost_usd`` over its results (the pipeline reports the cost of generating and
judging a case on any of its rows); the gate compares the mean over the cases that report
one. A run reporting no cost at all has an unknown cost, and the cost check is then
skipped with its reason, never read as free.

Rates and limits are compared as exact fractions, so a drop of exactly the allowed
points passes whatever the binary rounding of the operands.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

from django.conf import settings
from django.db.models import Avg, Count, Min, Q, Sum

from opsdash.evals.models import EvalResult

Status = Literal["ok", "fail", "new", "skipped"]


class GateError(Exception):
    """A question the gate cannot answer; ``status`` is the HTTP status to say so with."""

    status = 400
    error = "bad request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadParameter(GateError):
    status = 400
    error = "invalid parameter"


class NoRun(GateError):
    status = 404
    error = "no eval run"


@dataclass(frozen=True)
class Thresholds:
    max_drop_points: Decimal
    max_cost_rise_percent: Decimal


def default_thresholds() -> Thresholds:
    # str() first: the settings are floats, and Decimal(2.1) is not 2.1.
    return Thresholds(
        Decimal(str(settings.OPSDASH_GATE_MAX_DROP_POINTS)),
        Decimal(str(settings.OPSDASH_GATE_MAX_COST_RISE_PERCENT)),
    )


@dataclass(frozen=True)
class MetricCount:
    passed: int
    total: int

    @property
    def rate(self) -> Fraction:
        return Fraction(self.passed, self.total) if self.total else Fraction(0)

    @property
    def percent(self) -> Fraction:
        return self.rate * 100

    @property
    def share(self) -> float:
        return float(self.rate)


@dataclass(frozen=True)
class RunStats:
    run_id: str
    prompt_id: str
    prompt_version: str
    suite: str
    model: str
    started: dt.datetime
    results: int
    cases: int
    metrics: dict[str, MetricCount]
    cost_per_case: Decimal | None  # None: no case of the run reports a cost
    cases_with_cost: int


def run_stats(run_id: str, prompt_id: str | None = None, prompt_version: str | None = None) -> RunStats | None:
    """Pass counts per metric, case count and cost per case of one run (of one prompt version)."""
    rows = EvalResult.objects.filter(run_id=run_id)
    if prompt_id is not None:
        rows = rows.filter(prompt_id=prompt_id)
    if prompt_version is not None:
        rows = rows.filter(prompt_version=prompt_version)
    head = (
        rows.values("prompt_id", "prompt_version", "suite", "model")
        .annotate(n=Count("id"))
        .order_by("-n", "prompt_id", "prompt_version", "suite", "model")
        .first()
    )
    if head is None:
        return None
    # A run id may hold more than one suite or model: compare only the rows of the one
    # reported for it, never a mix.
    rows = rows.filter(suite=head["suite"], model=head["model"])
    totals = rows.aggregate(started=Min("ts"), results=Count("id"), cases=Count("case_id", distinct=True))
    metrics = {
        m["metric"]: MetricCount(m["passed"], m["total"])
        for m in rows.values("metric")
        .annotate(total=Count("id"), passed=Count("id", filter=Q(passed=True)))
        .order_by("metric")
    }
    cost = (
        rows.filter(cost_usd__isnull=False)
        .values("case_id")
        .annotate(case_cost=Sum("cost_usd"))
        .aggregate(mean=Avg("case_cost"), cases=Count("case_id"))
    )
    mean = cost["mean"]
    return RunStats(
        run_id=run_id,
        prompt_id=head["prompt_id"],
        prompt_version=head["prompt_version"],
        suite=head["suite"],
        model=head["model"],
        started=totals["started"],
        results=totals["results"],
        cases=totals["cases"],
        metrics=metrics,
        cost_per_case=Decimal(mean) if mean is not None else None,
        cases_with_cost=cost["cases"] or 0,
    )


def latest_run_id(prompt_id: str, version: str | None = None, *, suite: str = "", model: str = "") -> str | None:
    """The run of ``prompt_id`` (one version of it, one suite, one model when given) that started last."""
    rows = EvalResult.objects.filter(prompt_id=prompt_id)
    if version is not None:
        rows = rows.filter(prompt_version=version)
    if suite:
        rows = rows.filter(suite=suite)
    if model:
        rows = rows.filter(model=model)
    return (
        rows.values("run_id")
        .annotate(started=Min("ts"))
        .order_by("-started", "-run_id")
        .values_list("run_id", flat=True)
        .first()
    )


def _describe(prompt_id: str, version: str, suite: str, model: str) -> str:
    where = [f"suite {suite!r}"] if suite else []
    if model:
        where.append(f"model {model!r}")
    return f"{prompt_id}@{version}" + (f" ({', '.join(where)})" if where else "")


def _pinned(side: str, run_id: str, prompt_id: str, version: str, suite: str, model: str) -> RunStats:
    if not EvalResult.objects.filter(run_id=run_id).exists():
        raise NoRun(f"{side}_run: there is no eval run {run_id!r}.")
    stats = run_stats(run_id, prompt_id, version)
    if stats is None:
        other = run_stats(run_id)
        assert other is not None
        raise BadParameter(
            f"{side}_run: run {run_id!r} is a run of {other.prompt_id}@{other.prompt_version}, "
            f"not of {prompt_id}@{version}."
        )
    if suite and stats.suite != suite:
        raise BadParameter(f"{side}_run: run {run_id!r} ran suite {stats.suite!r}, not {suite!r}.")
    if model and stats.model != model:
        raise BadParameter(f"{side}_run: run {run_id!r} ran on model {stats.model!r}, not {model!r}.")
    return stats


def _latest(side: str, prompt_id: str, version: str, suite: str, model: str) -> RunStats:
    run_id = latest_run_id(prompt_id, version, suite=suite, model=model)
    stats = run_stats(run_id, prompt_id, version) if run_id else None
    if stats is None:
        raise NoRun(f"{side}: no eval run of {_describe(prompt_id, version, suite, model)}.")
    return stats


def select_runs(
    prompt_id: str,
    candidate: str,
    baseline: str,
    *,
    candidate_run: str = "",
    baseline_run: str = "",
    suite: str = "",
    model: str = "",
) -> tuple[RunStats, RunStats]:
    """(baseline, candidate) runs to compare; NoRun or BadParameter when there are none."""
    pinned_candidate = (
        _pinned("candidate", candidate_run, prompt_id, candidate, suite, model) if candidate_run else None
    )
    pinned_baseline = _pinned("baseline", baseline_run, prompt_id, baseline, suite, model) if baseline_run else None
    if not suite:
        pinned = pinned_candidate or pinned_baseline
        if pinned is not None:
            suite = pinned.suite
    cand = pinned_candidate or _latest("candidate", prompt_id, candidate, suite, model)
    base = pinned_baseline or _latest("baseline", prompt_id, baseline, suite or cand.suite, model)
    if cand.run_id == base.run_id:
        raise BadParameter(f"candidate and baseline are the same run ({cand.run_id!r}); compare two different runs.")
    return base, cand


# --- comparison ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricCheck:
    metric: str
    baseline: MetricCount | None
    candidate: MetricCount | None
    change_points: Fraction | None
    allowed_drop_points: Decimal
    status: Status
    reason: str = ""


@dataclass(frozen=True)
class CostCheck:
    baseline: Decimal | None
    candidate: Decimal | None
    change_percent: Fraction | None
    allowed_rise_percent: Decimal
    status: Status
    reason: str = ""


@dataclass(frozen=True)
class Report:
    baseline: RunStats
    candidate: RunStats
    thresholds: Thresholds
    metrics: list[MetricCheck]
    cost: CostCheck
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def _points(value: Fraction) -> str:
    return f"{float(abs(value)):.2f}"


def _plain(value: Decimal) -> str:
    """2.0 → '2', 2.50 → '2.5', 100 → '100'."""
    return f"{value.normalize():f}"


def check_metric(
    metric: str, base: MetricCount | None, cand: MetricCount | None, max_drop_points: Decimal
) -> MetricCheck:
    if base is None:
        return MetricCheck(metric, None, cand, None, max_drop_points, "new", "not in the baseline run; not compared")
    if cand is None:
        return MetricCheck(metric, base, None, None, max_drop_points, "fail", "missing in the candidate run")
    change = cand.percent - base.percent
    if change >= -Fraction(max_drop_points):
        return MetricCheck(metric, base, cand, change, max_drop_points, "ok")
    reason = f"pass rate dropped {_points(change)} points (allowed {_plain(max_drop_points)})"
    return MetricCheck(metric, base, cand, change, max_drop_points, "fail", reason)


def _usd(value: Decimal) -> str:
    return f"${_plain(value)}"


def check_cost(base: RunStats, cand: RunStats, max_rise_percent: Decimal) -> CostCheck:
    b, c = base.cost_per_case, cand.cost_per_case
    if b is None or c is None:
        unknown = [f"{side} run {run.run_id!r}" for side, run in (("baseline", base), ("candidate", cand))
                   if run.cost_per_case is None]  # fmt: skip
        reason = f"cost unknown: the {' and the '.join(unknown)} report no cost_usd"
        return CostCheck(b, c, None, max_rise_percent, "skipped", reason)
    if b == 0:
        if c == 0:
            return CostCheck(b, c, Fraction(0), max_rise_percent, "ok")
        return CostCheck(b, c, None, max_rise_percent, "fail", f"cost per case rose from $0 to {_usd(c)}")
    change = (Fraction(c) - Fraction(b)) / Fraction(b) * 100
    if change <= Fraction(max_rise_percent):
        return CostCheck(b, c, change, max_rise_percent, "ok")
    reason = (
        f"cost per case rose {float(change):.2f} % from {_usd(b)} to {_usd(c)} (allowed {_plain(max_rise_percent)} %)"
    )
    return CostCheck(b, c, change, max_rise_percent, "fail", reason)


def compare(base: RunStats, cand: RunStats, thresholds: Thresholds) -> Report:
    names = sorted(set(base.metrics) | set(cand.metrics))
    metrics = [
        check_metric(name, base.metrics.get(name), cand.metrics.get(name), thresholds.max_drop_points) for name in names
    ]
    cost = check_cost(base, cand, thresholds.max_cost_rise_percent)
    failures = [f"{m.metric}: {m.reason}" for m in metrics if m.status == "fail"]
    if cost.status == "fail":
        failures.append(cost.reason)
    return Report(base, cand, thresholds, metrics, cost, failures)


# --- JSON --------------------------------------------------------------------------------------


def _num(value: Fraction | Decimal | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def run_json(run: RunStats) -> dict[str, Any]:
    return {
        "version": run.prompt_version,
        "run_id": run.run_id,
        "suite": run.suite,
        "model": run.model,
        "started": run.started.isoformat().replace("+00:00", "Z"),
        "cases": run.cases,
        "results": run.results,
        "cost_per_case_usd": _num(run.cost_per_case, 8),
        "cases_with_cost": run.cases_with_cost,
    }


def report_json(report: Report) -> dict[str, Any]:
    cost = report.cost
    return {
        "result": "pass" if report.passed else "fail",
        "prompt_id": report.candidate.prompt_id,
        "baseline": run_json(report.baseline),
        "candidate": run_json(report.candidate),
        "thresholds": {
            "max_drop_points": float(report.thresholds.max_drop_points),
            "max_cost_rise_percent": float(report.thresholds.max_cost_rise_percent),
        },
        "metrics": [
            {
                "metric": m.metric,
                "baseline_pass_rate": _num(m.baseline.percent) if m.baseline else None,
                "candidate_pass_rate": _num(m.candidate.percent) if m.candidate else None,
                "baseline_cases": m.baseline.total if m.baseline else 0,
                "candidate_cases": m.candidate.total if m.candidate else 0,
                "change_points": _num(m.change_points),
                "allowed_drop_points": float(m.allowed_drop_points),
                "status": m.status,
                "reason": m.reason or None,
            }
            for m in report.metrics
        ],
        "cost_per_case": {
            "baseline_usd": _num(cost.baseline, 8),
            "candidate_usd": _num(cost.candidate, 8),
            "change_percent": _num(cost.change_percent),
            "allowed_rise_percent": float(cost.allowed_rise_percent),
            "status": cost.status,
            "reason": cost.reason or None,
        },
        "failures": report.failures,
    }
