from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from opsdash.accounts.access import require_role
from opsdash.accounts.models import ApiToken, Role


@require_GET
@require_role(Role.ADMIN)
def settings_users(request: HttpRequest) -> HttpResponse:
    users = get_user_model().objects.select_related("role_assignment").order_by("username")
    return render(request, "accounts/settings_users.html", {"users": users})


@require_GET
@require_role(Role.ADMIN)
def settings_tokens(request: HttpRequest) -> HttpResponse:
    tokens = ApiToken.objects.select_related("created_by").order_by("-created_at")
    return render(request, "accounts/settings_tokens.html", {"tokens": tokens})
