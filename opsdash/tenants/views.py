from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from opsdash.accounts.access import require_role, tenant_for
from opsdash.accounts.models import Role
from opsdash.tenants import selectors


@require_GET
@require_role(Role.VIEWER)
def tenant_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.tenant_list(request.user), 50).get_page(request.GET.get("page"))
    rows = selectors.tenant_rows(request.user, list(page.object_list))
    return render(request, "tenants/tenant_list.html", {"page": page, "rows": rows})


def tenant_dashboard(request: HttpRequest, slug: str) -> dict[str, Any]:
    """The tenant's own numbers for its page: the list's row plus the overview of its traffic."""
    tenant = tenant_for(request.user, slug)
    row = selectors.tenant_rows(request.user, [tenant])[0]
    return {"tenant": tenant, "row": row}


@require_GET
@require_role(Role.VIEWER)
def tenant_detail(request: HttpRequest, slug: str) -> HttpResponse:
    context = tenant_dashboard(request, slug)
    tenant = context["tenant"]
    context["keys"] = tenant.keys.order_by("-created_at")
    return render(request, "tenants/tenant_detail.html", context)


@require_GET
@require_role(Role.VIEWER)
def conversation_detail(request: HttpRequest, slug: str, conversation_id: str) -> HttpResponse:
    from opsdash.knowledge.models import Conversation
    from opsdash.safety.models import SafetyFlag

    tenant = tenant_for(request.user, slug)
    conversation = get_object_or_404(Conversation, tenant=tenant, external_id=conversation_id)
    page = Paginator(conversation.messages.order_by("ts", "id"), 100).get_page(request.GET.get("page"))
    flags = SafetyFlag.objects.filter(tenant=tenant, conversation_id=conversation_id).order_by("ts")[:50]
    return render(
        request,
        "tenants/conversation.html",
        {"tenant": tenant, "conversation": conversation, "page": page, "flags": flags},
    )
