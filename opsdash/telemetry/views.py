from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from opsdash.accounts.access import require_role
from opsdash.accounts.models import Role


@require_GET
@require_role(Role.VIEWER)
def overview(request: HttpRequest) -> HttpResponse:
    from opsdash.accounts.access import visible_tenants

    context = {"tenant_count": visible_tenants(request.user).count()}
    return render(request, "telemetry/overview.html", context)


@require_GET
@require_role(Role.VIEWER)
def latency(request: HttpRequest) -> HttpResponse:
    return render(request, "telemetry/latency.html")


@require_GET
@require_role(Role.VIEWER)
def cost(request: HttpRequest) -> HttpResponse:
    return render(request, "telemetry/cost.html")
