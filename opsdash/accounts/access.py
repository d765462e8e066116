"""Every permission check of opsdash lives here; views, APIs, selectors and templates ask it.

A user has at most one RoleAssignment: viewer < operator < admin, either global (no
tenants) or limited to a set of tenants. The rules below are `rules` predicates so the
same checks serve `user.has_perm(...)`, `{% has_perm %}` in templates, and code.

Outsiders asking for a tenant outside their scope get 404 (the tenant's existence is
not revealed); users in scope with too low a role get 403.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import rules
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Model, Q, QuerySet
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase

from opsdash.accounts.models import ROLE_RANK, Role, RoleAssignment, ScopeHistory
from opsdash.audit.selectors import Reader
from opsdash.tenants.models import Tenant

_CACHE_ATTR = "_opsdash_access"


class Access:
    """What one user may see and do, read once per request."""

    def __init__(self, role: str | None, tenant_ids: frozenset[int] | None) -> None:
        self.role = role
        # None means every tenant (a global assignment).
        self.tenant_ids = tenant_ids

    @property
    def rank(self) -> int:
        return ROLE_RANK[Role(self.role)] if self.role else 0

    @property
    def is_global(self) -> bool:
        return self.role is not None and self.tenant_ids is None

    def at_least(self, role: str) -> bool:
        return self.rank >= ROLE_RANK[Role(role)]

    def covers(self, tenant: Tenant | int) -> bool:
        if self.role is None:
            return False
        tenant_id = tenant if isinstance(tenant, int) else tenant.pk
        return self.tenant_ids is None or tenant_id in self.tenant_ids


def access_of(user: Any) -> Access:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Access(None, frozenset())
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    try:
        assignment: RoleAssignment = user.role_assignment
    except RoleAssignment.DoesNotExist:
        result = Access(None, frozenset())
    else:
        ids = frozenset(assignment.tenants.values_list("id", flat=True))
        result = Access(assignment.role, ids or None)
    setattr(user, _CACHE_ATTR, result)
    return result


def forget(user: Any) -> None:
    """Drop the cached access, after the user's own role changed."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def has_perm(user: Any, perm: str, obj: Any = None) -> bool:
    """Whether ``user`` holds ``perm`` (on ``obj``), from opsdash roles alone.

    Django's ``User.has_perm`` answers yes to every active superuser before asking any rule;
    in opsdash ``is_superuser`` grants nothing, so every check goes through here instead."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return rules.has_perm(perm, user, obj)


def role_of(user: Any) -> str | None:
    return access_of(user).role


def has_role(user: Any, role: str) -> bool:
    return access_of(user).at_least(role)


# --- rules predicates -----------------------------------------------------------------------


@rules.predicate
def is_viewer(user: Any) -> bool:
    return has_role(user, Role.VIEWER)


@rules.predicate
def is_operator(user: Any) -> bool:
    return has_role(user, Role.OPERATOR)


@rules.predicate
def is_admin(user: Any) -> bool:
    return has_role(user, Role.ADMIN)


@rules.predicate
def is_global_admin(user: Any) -> bool:
    access = access_of(user)
    return access.at_least(Role.ADMIN) and access.is_global


@rules.predicate
def tenant_in_scope(user: Any, tenant: Tenant | None) -> bool:
    return tenant is not None and access_of(user).covers(tenant)


rules.add_perm("tenants.view_tenant", is_viewer & tenant_in_scope)
rules.add_perm("tenants.operate_tenant", is_operator & tenant_in_scope)
rules.add_perm("tenants.administer_tenant", is_admin & tenant_in_scope)
rules.add_perm("accounts.manage_users", is_admin)
rules.add_perm("accounts.manage_tokens", is_global_admin)
rules.add_perm("audit.view_chain", is_global_admin)  # row numbers and counts of the whole trail
rules.add_perm("audit.view_all", is_admin)


# Alerts about no tenant that hold no tenant's numbers: offline eval results, which every
# role sees on /evals/ too.
EVERYONES_ALERT_RULES = ("eval.",)


def everyones_alerts() -> Q:
    """The alerts of no tenant that users limited to some tenants see (see alert_in_scope)."""
    rules_q = Q()
    for prefix in EVERYONES_ALERT_RULES:
        rules_q |= Q(rule__startswith=prefix)
    return rules_q


@rules.predicate
def alert_in_scope(user: Any, alert: Any) -> bool:
    """Alerts about a tenant follow the tenant's scope. Alerts about no tenant (a global SLO)
    carry numbers summed over every tenant, so, like those numbers on the dashboards, they
    are for users who see every tenant; eval alerts (EVERYONES_ALERT_RULES) are everyone's."""
    if alert is None:
        return False
    access = access_of(user)
    if alert.tenant_id is not None:
        return access.covers(alert.tenant_id)
    return access.is_global or alert.rule.startswith(EVERYONES_ALERT_RULES)


rules.add_perm("alerts.view_alert", is_viewer & alert_in_scope)
rules.add_perm("alerts.acknowledge_alert", is_operator & alert_in_scope)
# SLOs and budgets are settings: admins only, each within their own scope.
rules.add_perm("alerts.manage_settings", is_admin)
# A channel carries every tenant's alerts, so only an admin over every tenant manages one.
rules.add_perm("notifications.manage_channels", is_global_admin)

# The lowest role that holds each tenant permission, to tell 403 from 404.
_PERMISSION_ROLE = {
    "tenants.view_tenant": Role.VIEWER,
    "tenants.operate_tenant": Role.OPERATOR,
    "tenants.administer_tenant": Role.ADMIN,
}


# --- helpers for views and selectors ---------------------------------------------------------


def require_role(role: str) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """Login required; then 403 for a role below ``role``."""

    def decorator(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not has_role(request.user, role):
                raise PermissionDenied(f"This page needs the {role} role.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def require_perm(perm: str) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """Login required; then 403 unless the user holds the (non-object) permission."""

    def decorator(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not has_perm(request.user, perm):
                raise PermissionDenied("You do not have permission to do this.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def tenant_for(user: Any, slug: str, perm: str = "tenants.view_tenant") -> Tenant:
    """The tenant named ``slug`` if ``user`` holds ``perm`` on it: 404 outside the user's
    scope (or when it does not exist), 403 inside it with too low a role."""
    tenant = Tenant.objects.filter(slug=slug).first()
    access = access_of(user)
    if tenant is None or not access.covers(tenant):
        raise Http404("No such tenant.")
    if not has_perm(user, perm, tenant):
        needed = _PERMISSION_ROLE.get(perm, Role.ADMIN)
        raise PermissionDenied(f"This needs the {needed} role.")
    return tenant


def visible_tenants(user: Any) -> QuerySet[Tenant]:
    return scope_queryset(user, Tenant.objects.all(), field="id")


def scope_queryset[M: Model](
    user: Any, queryset: QuerySet[M], field: str = "tenant_id", shared: Q | None = None
) -> QuerySet[M]:
    """Limit ``queryset`` to the tenants the user may see; nothing at all without a role.
    ``shared``: rows of no tenant that users limited to some tenants see as well."""
    access = access_of(user)
    if access.role is None:
        return queryset.none()
    if access.tenant_ids is None:
        return queryset
    in_scope = Q(**{f"{field}__in": access.tenant_ids})
    if shared is not None:
        in_scope |= Q(**{f"{field}__isnull": True}) & shared
    return queryset.filter(in_scope)


def may_see_global_numbers(user: Any) -> bool:
    """Numbers summed over every tenant (a global SLO) are for users who see every tenant."""
    return access_of(user).is_global


def audit_reader(user: Any) -> Reader | None:
    """What the audit trail makes of ``user``: the tenants of their scope, and whether
    they read others' events there (admins) or only their own. None without a role."""
    access = access_of(user)
    if access.role is None:
        return None
    return Reader(user, access.tenant_ids, access.at_least(Role.ADMIN))


def scope_tenant_ids(user: Any) -> frozenset[int] | None:
    """For raw-SQL selectors: None for every tenant, else the ids in scope (maybe empty)."""
    access = access_of(user)
    if access.role is None:
        return frozenset()
    return access.tenant_ids


def may_grant(acting_user: Any, role: str, tenant_ids: frozenset[int] | None) -> str | None:
    """Why ``acting_user`` may not give someone ``role`` over ``tenant_ids`` (None = all), or None.

    Admins grant at most their own role over at most their own scope, so nobody can
    create an account wider than their own (and so widen their own reach through it).
    """
    access = access_of(acting_user)
    if not access.at_least(Role.ADMIN):
        return "Only admins manage users."
    if ROLE_RANK[Role(role)] > access.rank:
        return "You cannot grant a role above your own."
    if access.tenant_ids is not None:
        if tenant_ids is None:
            return "You are limited to some tenants, so you cannot grant access to all tenants."
        if not tenant_ids <= access.tenant_ids:
            return "You cannot grant access to tenants outside your own scope."
    return None


def manageable_users(acting_user: Any) -> QuerySet[Any]:
    """The one rule for managing users: every user an admin may see, edit, (de)activate,
    re-scope or send a set-password link.

    A global admin manages everyone. An admin limited to tenants T manages a user only when
    every tenant that user's role covers now, or ever covered (ScopeHistory), lies within T:
    never a user with no role assignment (active or not), a user whose role is or ever was
    global, or a superuser. Deactivation does not shrink a user's reach: an inactive user of
    another tenant stays out of reach. Everyone else manages nobody.
    """
    users = get_user_model().objects.all()
    access = access_of(acting_user)
    if not access.at_least(Role.ADMIN):
        return users.none()
    scope = access.tenant_ids
    if scope is None:
        return users
    links = RoleAssignment.tenants.through.objects
    inside = links.filter(tenant_id__in=scope).values("roleassignment__user_id")
    outside = links.exclude(tenant_id__in=scope).values("roleassignment__user_id")
    # A NULL tenant (a global role in the past) is "outside" too: exclude() keeps no NULLs.
    history_outside = ScopeHistory.objects.exclude(tenant_id__in=scope).values("user_id")
    return users.filter(is_superuser=False, pk__in=inside).exclude(pk__in=outside).exclude(pk__in=history_outside)


def may_manage_user(acting_user: Any, target: Any) -> bool:
    return manageable_users(acting_user).filter(pk=target.pk).exists()


def managed_user_or_404(acting_user: Any, user_id: int) -> Any:
    """The user ``user_id`` if ``acting_user`` may manage it; 404 otherwise, so a scoped admin
    learns nothing of accounts beyond its tenants."""
    target = manageable_users(acting_user).filter(pk=user_id).first()
    if target is None:
        raise Http404("No such user.")
    return target
