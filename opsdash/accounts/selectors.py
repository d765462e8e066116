from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from opsdash.accounts import access
from opsdash.accounts.models import RoleAssignment


def manageable_users(acting_user: Any) -> QuerySet[Any]:
    """Users the acting admin may see in the user list: all for a global admin; for a
    scoped admin, users limited to tenants that all lie within the admin's own scope."""
    users = (
        get_user_model()
        .objects.select_related("role_assignment")
        .prefetch_related("role_assignment__tenants")
        .order_by("username")
    )
    scope = access.access_of(acting_user).tenant_ids
    if scope is None:
        return users
    links = RoleAssignment.tenants.through.objects
    inside = links.filter(tenant_id__in=scope).values("roleassignment__user_id")
    outside = links.exclude(tenant_id__in=scope).values("roleassignment__user_id")
    return users.filter(pk__in=inside).exclude(pk__in=outside)
