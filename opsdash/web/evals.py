from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_GET

from opsdash.accounts.access import require_role
from opsdash.accounts.models import Role
from opsdash.evals import gate, selectors
from opsdash.telemetry import selectors as telemetry
from opsdash.telemetry.filters import FilterError, Filters
from opsdash.web.views import render_dashboard


def _evals_context(f: Filters) -> dict[str, Any]:
    versions = selectors.prompt_versions(f.range.start, f.range.end, f.prompt_id)
    if f.prompt_version:
        versions = [v for v in versions if v.prompt_version == f.prompt_version]
    # Production error rate of the same prompt versions, from the rollups (route/model
    # filters do not apply to evals).
    production = telemetry.totals_by(dataclasses.replace(f, route="", model=""), "prompt", with_quantiles=False)
    keep = {**f.range.query(), **({"tenant": f.tenant.slug} if f.tenant else {})}
    for v in versions:
        tot = production.get(v.prompt)
        if tot is not None:
            v.production_error_rate = tot.error_rate
            v.production_requests = tot.requests
        if v.previous_version:
            v.compare_query = urlencode(
                {**keep, "prompt_id": v.prompt_id, "a": v.previous_version, "b": v.prompt_version}
            )
    context: dict[str, Any] = {"versions": versions[:50], "failing_rate": selectors.FAILING_RATE}
    if f.prompt_id and f.prompt_version:
        context["runs"] = selectors.runs_of(f.prompt_id, f.prompt_version, f.range.start, f.range.end)
    return context


@require_GET
@require_role(Role.VIEWER)
def evals(request: HttpRequest) -> HttpResponse:
    return render_dashboard(request, "evals/evals.html", _evals_context, {"default_range": "7d"})


@require_GET
@require_role(Role.VIEWER)
def eval_run(request: HttpRequest, run_id: str) -> HttpResponse:
    summary = selectors.run_summary(run_id)
    if summary is None:
        raise Http404("No such eval run.")
    page = Paginator(selectors.failing_cases(run_id), 50).get_page(request.GET.get("page"))
    return render(request, "evals/eval_run.html", {"run": summary, "page": page})


# --- two prompt versions (or two models) side by side ------------------------------------------

COMPARE_BY = ("version", "model")
COMPARE_TEXT = {"prompt_id": 200, "a": 200, "b": 200, "suite": 200}


@dataclasses.dataclass
class Side:
    key: str  # "a" or "b"
    value: str  # the prompt version, or the model
    run: gate.RunStats | None
    production: telemetry.Totals

    @property
    def cost_per_request(self) -> Decimal | None:
        known = self.production.requests - self.production.cost_unknown
        return self.production.cost_usd / known if known else None


@dataclasses.dataclass
class MetricRow:
    metric: str
    a: gate.MetricCount | None
    b: gate.MetricCount | None
    check: gate.MetricCheck  # b against a, as the gate would judge it

    @property
    def change(self) -> float | None:
        """b minus a as a difference of rates (for the pp filter)."""
        points = self.check.change_points
        return None if points is None else float(points) / 100


def _compare_params(params: QueryDict) -> dict[str, str]:
    out = {}
    for name, longest in COMPARE_TEXT.items():
        value = (params.get(name) or "").strip()
        if len(value) > longest:
            raise FilterError(f"'{name}' is longer than {longest} characters.")
        out[name] = value
    by = (params.get("by") or "version").strip()
    if by not in COMPARE_BY:
        raise FilterError(f"'by' must be version or model, got {by[:40]!r}.")
    out["by"] = by
    if (out["a"] or out["b"] or out["suite"]) and not out["prompt_id"]:
        raise FilterError("Choose the prompt ('prompt_id') whose versions or models to compare.")
    if out["a"] and out["a"] == out["b"]:
        raise FilterError(f"'a' and 'b' are the same {by} ({out['a']!r}); choose two different ones.")
    return out


def _fill_in(a: str, b: str, order: list[str]) -> tuple[str, str]:
    """Missing sides default to the latest version (b) and the one released before it (a)."""
    if not b:
        b = next((v for v in reversed(order) if v != a), "")
    if not a and b in order:
        position = order.index(b)
        a = order[position - 1] if position else ""
    return a, b


def _latest_run(prompt_id: str, by: str, value: str, suite: str) -> gate.RunStats | None:
    scope = {"version": value} if by == "version" else {"model": value}
    run_id = gate.latest_run_id(prompt_id, suite=suite, **scope)
    if run_id is None:
        return None
    return gate.run_stats(run_id, prompt_id, value if by == "version" else None)


def _production(f: Filters, prompt_id: str, by: str, value: str) -> telemetry.Totals:
    # Only the time range and the tenant filter carry over; Filters.scope keeps a scoped
    # user's numbers to their own tenants.
    base = dataclasses.replace(f, route="", model="", prompt_id="", prompt_version="")
    if by == "version":
        return telemetry.totals(dataclasses.replace(base, prompt_id=prompt_id, prompt_version=value))
    return telemetry.totals(dataclasses.replace(base, model=value))


def _compare_context(request: HttpRequest, f: Filters) -> dict[str, Any]:
    p = _compare_params(request.GET)
    prompt_id, by, suite = p["prompt_id"], p["by"], p["suite"]
    context: dict[str, Any] = {"cmp": p, "prompt_ids": selectors.known_prompt_ids()}
    if not prompt_id:
        return context
    order = selectors.released_in_order(prompt_id, by)
    a, b = _fill_in(p["a"], p["b"], order)
    context.update(
        {
            "cmp": {**p, "a": a, "b": b},
            "known_prompt": bool(order),
            "choices": order,
            "suites": selectors.suites_of(prompt_id),
        }
    )
    if not (a and b):
        if len(order) == 1:
            context["nothing_to_compare"] = (
                f"Only one {by} of this prompt has eval results",
                f"{order[0]} is the only one so far: give A and B explicitly, or wait for the next eval run.",
            )
        elif order:
            context["nothing_to_compare"] = (
                f"No {by} before {b} to compare it with",
                f"{b} has the oldest eval results of this prompt; choose A among {', '.join(order[:10])}.",
            )
        return context
    # Both sides from one suite: the one asked for, else the suite b (the newer side) last ran.
    run_b = _latest_run(prompt_id, by, b, suite)
    suite_used = suite or (run_b.suite if run_b else "")
    run_a = _latest_run(prompt_id, by, a, suite_used)
    sides = [
        Side("a", a, run_a, _production(f, prompt_id, by, a)),
        Side("b", b, run_b, _production(f, prompt_id, by, b)),
    ]
    context.update({"sides": sides, "suite_used": suite_used})
    if run_a is not None and run_b is not None:
        report = gate.compare(run_a, run_b, gate.default_thresholds())
        context["report"] = report
        context["metric_rows"] = [MetricRow(m.metric, m.baseline, m.candidate, m) for m in report.metrics]
    context["has_traffic"] = any(s.production.requests for s in sides)
    return context


@require_GET
@require_role(Role.VIEWER)
def compare(request: HttpRequest) -> HttpResponse:
    return render_dashboard(
        request, "evals/compare.html", lambda f: _compare_context(request, f), {"default_range": "7d"}
    )
