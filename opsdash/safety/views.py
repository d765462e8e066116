from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from opsdash.accounts.access import require_role
from opsdash.accounts.models import Role


@require_GET
@require_role(Role.VIEWER)
def safety(request: HttpRequest) -> HttpResponse:
    return render(request, "safety/safety.html")
