from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, QuerySet
from django.utils import timezone

from opsdash.accounts.access import visible_tenants
from opsdash.tenants.models import Tenant


def tenant_list(user: Any) -> QuerySet[Tenant]:
    return visible_tenants(user).order_by("slug")


def tenant_rows(user: Any, tenants: list[Tenant], now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Per tenant on a page of the list: spend today and this month against budgets,
    p95 and error rate over the last 24 hours, open safety flags. Reads rollups only."""
    from opsdash.lib.timerange import parse_range
    from opsdash.safety.models import SafetyFlag
    from opsdash.telemetry import selectors as telemetry
    from opsdash.telemetry.filters import Filters

    now = now or timezone.now()
    ids = frozenset(t.pk for t in tenants)
    day = parse_range({"range": "24h"}, now)
    f = Filters(range=day, scope=ids)
    last_day = telemetry.totals_by(f, "tenant")
    spend = telemetry.totals_in_windows(f, "tenant", telemetry.budget_windows(now), measures=("cost_usd",))
    today, month = spend["today"], spend["month"]
    flags = dict(
        SafetyFlag.objects.filter(tenant_id__in=ids, resolved_at=None, ts__gte=day.start)
        .values_list("tenant_id")
        .annotate(n=Count("id"))
        .values_list("tenant_id", "n")
    )
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
