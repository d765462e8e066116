from __future__ import annotations

import csv
import functools
from collections.abc import Callable
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_GET

from opsdash.accounts import selectors as account_reads
from opsdash.accounts.access import require_role
from opsdash.accounts.models import Role
from opsdash.audit.services import record_event
from opsdash.lib.csvsafe import safe_row
from opsdash.web import dashboards
from opsdash.web.attention import needs_attention
from opsdash.web.filters import FilterError, Filters, page_params, parse_filters, query_detail
from opsdash.web.overview import extra_tiles

COST_TABLE_PAGE = 50
RANGE_CHOICES = [
    ("1h", "Last hour"),
    ("6h", "Last 6 hours"),
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("custom", "Custom"),
]


def render_dashboard(
    request: HttpRequest, template: str, build: Callable[[Filters], dict[str, Any]], extra: dict[str, Any] | None = None
) -> HttpResponse:
    """Full page, or only its panels for an htmx filter change; a bad filter is a 400
    that says what was wrong, with the filter bar still there to fix it.

    A panels refresh also sends the page's filter bar and the main navigation out of band
    (hx-swap-oob): a row link or a breakdown tab changes the filters without the form, and
    a bar still showing "all" would drop the new filter at the next range change (and the
    navigation would carry the old range and tenant to the other pages). Every page
    template wraps its filter bar in ``{% partialdef filter_bar %}`` for this."""
    context: dict[str, Any] = {
        "tenants": account_reads.tenant_list(request.user),
        "range_choices": RANGE_CHOICES,
        "default_range": "24h",
        **(extra or {}),
    }
    try:
        # Kept apart from the filters so the bar keeps them even when a filter is refused.
        context["page_params"] = page_params(request.GET)
        filters = parse_filters(request, default_range=context.get("default_range"))
        context.update(build(filters))
    except FilterError as exc:
        context["filter_error"] = str(exc)
        status = 400
    else:
        context["filters"] = filters
        status = 200
    htmx = getattr(request, "htmx", None)
    if not (htmx and not htmx.history_restore_request and htmx.target == "panels"):
        return render(request, template, context, status=status)
    oob = {**context, "oob": True}
    parts = [
        render_to_string(f"{template}#panels", context, request),
        render_to_string(f"{template}#filter_bar", oob, request),
        render_to_string("base.html#mainnav", oob, request),
    ]
    return HttpResponse("".join(parts), status=status)


@require_GET
@require_role(Role.VIEWER)
def overview(request: HttpRequest) -> HttpResponse:
    # "Needs attention" does not depend on the filters and sits outside the panels: read
    # only when the template shows it (a full page, not a panels refresh), and once.
    attention = functools.cache(lambda: needs_attention(request.user))
    return render_dashboard(
        request,
        "telemetry/overview.html",
        lambda f: {**dashboards.overview(f), **extra_tiles(request.user, f)},
        {"attention": attention},
    )


def _breakdown(request: HttpRequest) -> str:
    by = request.GET.get("by", "route")
    return by if by in dashboards.BREAKDOWNS else "route"


@require_GET
@require_role(Role.VIEWER)
def latency(request: HttpRequest) -> HttpResponse:
    by = _breakdown(request)

    def build(f: Filters) -> dict[str, Any]:
        # The rollups break down by one of route, model or prompt beside the tenant, so
        # narrowed to one model there is no breakdown by route to read. The narrowing filter
        # is what the user just asked for (a row of "Slowest models", the Model box), so it
        # wins over the breakdown instead of a 400: the page shows that model without a
        # breakdown panel and says why, and ``by`` stays in the links and the filter bar, so
        # clearing the filter brings back the breakdown the user chose.
        narrowed = f.narrowed_by
        context = dashboards.latency(f, narrowed or by)
        context["by"] = by
        if narrowed:
            context["breakdown_off"] = {
                "filter": narrowed,
                "value": getattr(f, narrowed),
                "clear": f.query(**{narrowed: None}),
            }
        return context

    return render_dashboard(request, "telemetry/latency.html", build, {"by": by})


@require_GET
@require_role(Role.VIEWER)
def cost(request: HttpRequest) -> HttpResponse:
    def build(f: Filters) -> dict[str, Any]:
        context = dashboards.cost(f)
        # Biggest spenders first, a page at a time; the CSV export has every tenant.
        context["page"] = Paginator(context["tenant_rows"], COST_TABLE_PAGE).get_page(request.GET.get("page"))
        return context

    return render_dashboard(request, "telemetry/cost.html", build)


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_GET
@require_role(Role.VIEWER)
def cost_export(request: HttpRequest) -> HttpResponse:
    try:
        filters = parse_filters(request)
    except FilterError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    rows = dashboards.tenant_cost_table(filters, timezone.now())
    record_event(
        "cost.export",
        actor=request.user,
        request=request,
        detail={"filters": query_detail(request)},
    )
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="opsdash-cost-{timezone.now():%Y%m%d-%H%M}.csv"'
    writer = csv.writer(response)
    writer.writerow([
        "tenant", "requests", "cost_usd_range", "cost_unknown_requests", "today_usd", "month_to_date_usd",
        "daily_budget_usd", "monthly_budget_usd", "budget_used", "forecast_usd", "cost_per_1k_requests_usd",
        "cost_per_successful_request_usd", "input_tokens", "output_tokens",
    ])  # fmt: skip
    for r in rows:
        t = r["totals"]
        # People open this in spreadsheets, and a slug may start with "-" (a formula to them).
        writer.writerow(safe_row([
            r["tenant"].slug, t.requests, f"{t.cost_usd:.6f}", t.cost_unknown, f"{r['today']:.6f}", f"{r['month']:.6f}",
            r["daily_budget"] if r["daily_budget"] is not None else "",
            r["monthly_budget"] if r["monthly_budget"] is not None else "",
            f"{r['used']:.4f}" if r["used"] is not None else "", f"{r['forecast']:.2f}",
            f"{t.cost_per_1k:.6f}" if t.cost_per_1k is not None else "",
            f"{t.cost_per_success:.8f}" if t.cost_per_success is not None else "",
            t.input_tokens, t.output_tokens,
        ]))  # fmt: skip
    return response
