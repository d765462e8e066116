from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from opsdash.accounts.access import require_role
from opsdash.accounts.models import Role
from opsdash.tenants import selectors
from opsdash.tenants.models import Tenant


@require_GET
@require_role(Role.VIEWER)
def tenant_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.tenant_list(), 50).get_page(request.GET.get("page"))
    return render(request, "tenants/tenant_list.html", {"page": page})


@require_GET
@require_role(Role.VIEWER)
def tenant_detail(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = get_object_or_404(Tenant, slug=slug)
    keys = tenant.keys.order_by("-created_at")
    return render(request, "tenants/tenant_detail.html", {"tenant": tenant, "keys": keys})
