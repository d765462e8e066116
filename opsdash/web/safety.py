from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from opsdash.accounts.access import require_role
from opsdash.accounts.models import Role
from opsdash.safety import charts, selectors
from opsdash.telemetry.filters import FilterError, Filters
from opsdash.web.views import render_dashboard


@require_GET
@require_role(Role.VIEWER)
def safety(request: HttpRequest) -> HttpResponse:
    def build(f: Filters) -> dict[str, Any]:
        qs = selectors.flags(request.user, f)
        kind = request.GET.get("kind", "").strip()[:50]
        if "\x00" in kind:
            raise FilterError("'kind' must not contain a NUL character.")
        steps, by_kind, by_severity = selectors.over_time(qs, f)
        # Known severities worst first, any other after them by name (none is left out).
        order = [*selectors.SEVERITY_ORDER, *sorted(set(by_severity) - set(selectors.SEVERITY_ORDER))]
        ordered_severity = {s: by_severity[s] for s in order if s in by_severity}
        total = sum(sum(values) for values in by_kind.values())
        paginator = Paginator(selectors.listing(qs, kind), 50)
        # The count is known from the aggregation: spare the paginator a second scan.
        paginator.count = sum(by_kind.get(kind, [])) if kind else total  # type: ignore[misc]
        page = paginator.get_page(request.GET.get("page"))
        return {
            "total": total,
            "by_kind": charts.stacked(steps, by_kind, "flags"),
            "by_severity": charts.stacked(steps, ordered_severity, "flags", charts.SEVERITY_COLOURS),
            # Most flags first; equal counts by name, so the order never depends on the query plan.
            "kinds": sorted(by_kind, key=lambda k: (-sum(by_kind[k]), k)),
            "kind": kind,
            "top_tenants": selectors.top_tenants(qs, f),
            "page": page,
        }

    return render_dashboard(request, "safety/safety.html", build)
