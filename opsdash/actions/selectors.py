from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from opsdash.accounts import access
from opsdash.accounts.access import scope_queryset
from opsdash.actions.models import ActionRun


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


def recent_runs(user: Any, *, tenant_id: int | None = None) -> QuerySet[ActionRun]:
    runs = visible_runs(user).order_by("-created_at", "-id")
    if tenant_id is not None:
        runs = runs.filter(tenant_id=tenant_id)
    return runs


# What the overview's tile counts as running: waiting for a worker, at work, or waiting
# for a second person.
RUNNING_TILE_STATES = (ActionRun.State.QUEUED, ActionRun.State.RUNNING, ActionRun.State.AWAITING_APPROVAL)


def live_run_count(user: Any) -> int:
    return scope_queryset(user, ActionRun.objects.filter(state__in=RUNNING_TILE_STATES)).count()
