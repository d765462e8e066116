from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from opsdash.accounts import access
from opsdash.accounts.models import ApiToken, PasswordLink, RoleAssignment, ScopeHistory
from opsdash.tenants.models import Tenant


def manageable_users(acting_user: Any) -> QuerySet[Any]:
    """The user list of an admin: exactly the users access.manageable_users lets it manage."""
    return (
        access.manageable_users(acting_user)
        .select_related("role_assignment")
        .prefetch_related("role_assignment__tenants")
        .order_by("username")
    )


def grantable_tenants(acting_user: Any) -> QuerySet[Tenant]:
    """The tenants an admin may offer in a user's scope: those it sees itself, by slug
    (access.may_grant has the last word when the form is saved)."""
    return access.visible_tenants(acting_user).order_by("slug")


def tokens_for_settings() -> QuerySet[ApiToken]:
    """Every API token for the tokens page: live ones first, newest first, with their creator."""
    return ApiToken.objects.select_related("created_by").order_by("revoked_at", "-created_at")


def token_or_404(token_id: int) -> ApiToken:
    """The token ``token_id``; 404 when there is none (the page is for global admins only)."""
    return get_object_or_404(ApiToken, pk=token_id)


def reach_of(user: Any) -> tuple[frozenset[int], bool]:
    """Every tenant ``user``'s role covers or ever covered, and whether it is or was global.

    An audit event about a user names these tenants, so it is shown only to admins whose scope
    holds all of them."""
    tenant_ids: set[int] = set()
    is_global = False
    assignment = RoleAssignment.objects.filter(user_id=user.pk).first()
    if assignment is not None:
        current = set(assignment.tenants.values_list("id", flat=True))
        tenant_ids |= current
        is_global = not current
    for tenant_id in ScopeHistory.objects.filter(user_id=user.pk).values_list("tenant_id", flat=True):
        if tenant_id is None:
            is_global = True
        else:
            tenant_ids.add(tenant_id)
    return frozenset(tenant_ids), is_global


def live_password_link(token_hash: str) -> PasswordLink | None:
    """The link with this token hash, whatever its state (the caller says why it is refused)."""
    return PasswordLink.objects.select_related("user").filter(token_hash=token_hash).first()


def tenant_list(user: Any) -> QuerySet[Tenant]:
    """The tenants ``user`` may see, by slug (filter choices, the tenant list)."""
    return access.visible_tenants(user).order_by("slug")


def tenant_slugs(user: Any) -> dict[int, str]:
    """Slug by id of the tenants ``user`` sees, to name the tenants an audit event touches."""
    return dict(access.visible_tenants(user).values_list("id", "slug"))
