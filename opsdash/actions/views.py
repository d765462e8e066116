from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from opsdash.accounts.access import require_role
from opsdash.accounts.models import Role


@require_GET
@require_role(Role.VIEWER)
def action_list(request: HttpRequest) -> HttpResponse:
    return render(request, "actions/action_list.html")


@require_GET
@require_role(Role.VIEWER)
def action_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    raise Http404("No such action run.")
