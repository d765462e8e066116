from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from opsdash.accounts.access import require_role, tenant_for
from opsdash.accounts.models import Role
from opsdash.tenants import selectors


@require_GET
@require_role(Role.VIEWER)
def tenant_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.tenant_list(request.user), 50).get_page(request.GET.get("page"))
    return render(request, "tenants/tenant_list.html", {"page": page})


@require_GET
@require_role(Role.VIEWER)
def tenant_detail(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = tenant_for(request.user, slug)
    keys = tenant.keys.order_by("-created_at")
    return render(request, "tenants/tenant_detail.html", {"tenant": tenant, "keys": keys})
