from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from opsdash.accounts import access
from opsdash.accounts.access import scope_queryset
from opsdash.actions.models import ActionRun
from opsdash.tenants.models import Tenant, TenantKey


def visible_runs(user: Any) -> QuerySet[ActionRun]:
    return scope_queryset(user, ActionRun.objects.select_related("tenant", "requested_by", "approved_by"))


def run_for(user: Any, run_id: int) -> ActionRun:
    """The run if the user may see its tenant; 404 otherwise (its existence is not revealed)."""
    run = visible_runs(user).select_related("cancelled_by").filter(pk=run_id).first()
    if run is None:
        raise Http404("No such action run.")
    return run


def awaiting_approval(user: Any) -> list[ActionRun]:
    """Runs this user could approve: awaiting approval, on tenants they administer."""
    runs = visible_runs(user).filter(state=ActionRun.State.AWAITING_APPROVAL).order_by("created_at")
    return [run for run in runs[:200] if access.has_perm(user, "tenants.administer_tenant", run.tenant)]


def recent_runs(
    user: Any, *, tenant_id: int | None = None, state: str = "", tenant_slug: str = ""
) -> QuerySet[ActionRun]:
    """The runs ``user`` may see, newest first; narrowed to a tenant (by id or slug) and a
    state when given."""
    runs = visible_runs(user).order_by("-created_at", "-id")
    if tenant_id is not None:
        runs = runs.filter(tenant_id=tenant_id)
    if state:
        runs = runs.filter(state=state)
    if tenant_slug:
        runs = runs.filter(tenant__slug=tenant_slug)
    return runs


def kind_of_run(run_id: int) -> str | None:
    """The action kind of run ``run_id`` (None when there is no such run), read before the
    run itself to know which permission deciding on it needs; not scoped: the caller looks
    the run up through run_for, which answers 404 outside the user's scope."""
    run = ActionRun.objects.filter(pk=run_id).only("kind").first()
    return run.kind if run else None


def tenant_key_or_404(tenant: Tenant, key_id: int) -> TenantKey:
    """Key ``key_id`` of ``tenant``; 404 when it does not exist or belongs to another tenant."""
    return get_object_or_404(TenantKey, pk=key_id, tenant=tenant)


# What the overview's tile counts as running: waiting for a worker, at work, or waiting
# for a second person.
RUNNING_TILE_STATES = (ActionRun.State.QUEUED, ActionRun.State.RUNNING, ActionRun.State.AWAITING_APPROVAL)


def live_run_count(user: Any) -> int:
    return scope_queryset(user, ActionRun.objects.filter(state__in=RUNNING_TILE_STATES)).count()
