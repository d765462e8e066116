"""The tenant list, a tenant's page and its conversations."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from opsdash.accounts import selectors as account_reads
from opsdash.accounts.access import require_role, tenant_for
from opsdash.accounts.models import Role
from opsdash.knowledge import selectors as knowledge
from opsdash.lib.timerange import parse_range
from opsdash.safety import selectors as safety
from opsdash.telemetry import selectors as telemetry
from opsdash.telemetry.filters import Filters
from opsdash.tenants import selectors
from opsdash.tenants.models import Tenant


def tenant_rows(user: Any, tenants: list[Tenant], now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Per tenant on a page of the list: spend today and this month against budgets,
    p95 and error rate over the last 24 hours, open safety flags. Reads rollups only."""
    now = now or timezone.now()
    ids = frozenset(t.pk for t in tenants)
    day = parse_range({"range": "24h"}, now)
    f = Filters(range=day, scope=ids)
    last_day = telemetry.totals_by(f, "tenant")
    spend = telemetry.totals_in_windows(f, "tenant", telemetry.budget_windows(now), measures=("cost_usd",))
    today, month = spend["today"], spend["month"]
    flags = safety.open_flags_by_tenant(ids, day.start)
    rows = []
    for tenant in tenants:
        recent = last_day.get(tenant.pk)
        spent_today = today[tenant.pk].cost_usd if tenant.pk in today else 0
        spent_month = month[tenant.pk].cost_usd if tenant.pk in month else 0
        rows.append(
            {
                "tenant": tenant,
                "today": spent_today,
                "month": spent_month,
                "daily_used": float(spent_today / tenant.daily_budget_usd) if tenant.daily_budget_usd else None,
                "monthly_used": float(spent_month / tenant.monthly_budget_usd) if tenant.monthly_budget_usd else None,
                "p95": recent.p95 if recent else None,
                "error_rate": recent.error_rate if recent else None,
                "requests": recent.requests if recent else 0,
                "flags": flags.get(tenant.pk, 0),
            }
        )
    return rows


@require_GET
@require_role(Role.VIEWER)
def tenant_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(account_reads.tenant_list(request.user), 50).get_page(request.GET.get("page"))
    rows = tenant_rows(request.user, list(page.object_list))
    return render(request, "tenants/tenant_list.html", {"page": page, "rows": rows})


def tenant_dashboard(request: HttpRequest, slug: str) -> dict[str, Any]:
    """The tenant's own numbers for its page: the list's row plus the overview of its traffic."""
    tenant = tenant_for(request.user, slug)
    row = tenant_rows(request.user, [tenant])[0]
    return {"tenant": tenant, "row": row}


@require_GET
@require_role(Role.VIEWER)
def tenant_detail(request: HttpRequest, slug: str) -> HttpResponse:
    context = tenant_dashboard(request, slug)
    tenant = context["tenant"]
    context["keys"] = selectors.keys_of(tenant)
    return render(request, "tenants/tenant_detail.html", context)


@require_GET
@require_role(Role.VIEWER)
def conversation_detail(request: HttpRequest, slug: str, conversation_id: str) -> HttpResponse:
    tenant = tenant_for(request.user, slug)
    flags = safety.conversation_flags(tenant, conversation_id)
    try:
        conversation = knowledge.conversation_of(tenant, conversation_id)
    except Http404:
        # A safety flag names its conversation whether or not the messages were stored (or
        # were purged since), and /safety/ links to it: its flags are still there to show.
        # Only a conversation nothing knows of is a 404.
        if not flags:
            raise
        conversation = None
    messages: QuerySet[Any] | list[Any] = knowledge.messages_of(conversation) if conversation is not None else []
    page = Paginator(messages, 100).get_page(request.GET.get("page"))
    return render(
        request,
        "tenants/conversation.html",
        {
            "tenant": tenant,
            "conversation": conversation,
            "conversation_id": conversation_id,
            "page": page,
            "flags": flags,
        },
    )
