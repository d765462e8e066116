from __future__ import annotations

import dataclasses
from typing import Any

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from opsdash.accounts.access import require_role
from opsdash.accounts.models import Role
from opsdash.evals import selectors
from opsdash.telemetry import selectors as telemetry
from opsdash.telemetry.filters import Filters
from opsdash.telemetry.views import render_dashboard


def _evals_context(f: Filters) -> dict[str, Any]:
    versions = selectors.prompt_versions(f.range.start, f.range.end, f.prompt_id)
    if f.prompt_version:
        versions = [v for v in versions if v.prompt_version == f.prompt_version]
    # Production error rate of the same prompt versions, from the rollups (route/model
    # filters do not apply to evals).
    production = telemetry.totals_by(dataclasses.replace(f, route="", model=""), "prompt", with_quantiles=False)
    for v in versions:
        tot = production.get(v.prompt)
        if tot is not None:
            v.production_error_rate = tot.error_rate
            v.production_requests = tot.requests
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
