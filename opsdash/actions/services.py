"""Requesting, approving, cancelling and retrying action runs. Each write is one
transaction with its audit event; a run is handed to the worker only on commit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from opsdash.accounts import access
from opsdash.actions import registry
from opsdash.actions.models import ActionRun
from opsdash.actions.tasks import run_action
from opsdash.audit.services import record_event
from opsdash.tenants.models import Tenant

State = ActionRun.State
APPROVE_PERMISSION = "tenants.administer_tenant"


class ActionError(Exception):
    """A request refused for a reason the person can act on; the message is shown as is."""


class SecondPersonRequired(PermissionDenied):
    """The requester of a run tried to approve it."""


def needs_approval(kind: str) -> bool:
    return kind in settings.ACTIONS_REQUIRE_APPROVAL


def _audit(action: str, run: ActionRun, *, acting_user: Any, request: HttpRequest | None, **detail: Any) -> None:
    record_event(
        action,
        actor=acting_user,
        target=run,
        target_label=f"{run.kind} #{run.pk}",
        tenant=run.tenant,
        request=request,
        detail={"run": run.pk, "kind": run.kind, "parameters": run.parameters, **detail},
    )


def _enqueue(run: ActionRun) -> None:
    run_action.delay_on_commit(run.pk)  # type: ignore[attr-defined]  # DjangoTask, set by Celery's Django fixup


def _require(user: Any, perm: str, tenant: Tenant) -> None:
    # access.py registers the permissions; importing it here makes sure they exist.
    if user is None or not access.access_of(user).role or not access.has_perm(user, perm, tenant):
        raise PermissionDenied("You do not have permission to do this.")


@dataclass(frozen=True)
class Requested:
    run: ActionRun
    secret: str | None  # shown once to the requester (a new key), never stored
    created: bool


def _create_run(
    action: Any, tenant: Tenant, kind: str, parameters: dict[str, Any], requested_by: Any, idempotency_key: str
) -> tuple[ActionRun, Any, bool, str | None]:
    """Save a new run (queued, or awaiting approval): the run, its preview, whether it
    needs approval, and the secret its action prepared (shown once, never stored)."""
    reason = action.unavailable(tenant)
    if reason:
        raise ActionError(reason)
    preview = action.preview(tenant, parameters)
    approval = needs_approval(kind)
    run = ActionRun(
        kind=kind,
        tenant=tenant,
        parameters=parameters,
        preview=preview.as_dict(),
        requested_by=requested_by,
        state=State.AWAITING_APPROVAL if approval else State.QUEUED,
        queued_at=None if approval else timezone.now(),
        idempotency_key=idempotency_key,
    )
    secret = action.prepare(run)
    try:
        with transaction.atomic():
            run.save(force_insert=True)
    except IntegrityError:
        live = ActionRun.objects.filter(tenant=tenant, kind=kind, state__in=ActionRun.LIVE_STATES).first()
        where = f" (run #{live.pk}, {live.get_state_display().lower()})" if live else ""
        raise ActionError(f"A {action.label.lower()} run for {tenant.slug} is already in progress{where}.") from None
    return run, preview, approval, secret


@transaction.atomic
def request_run(
    tenant: Tenant,
    kind: str,
    *,
    acting_user: Any,
    parameters: dict[str, Any],
    idempotency_key: str,
    request: HttpRequest | None = None,
) -> Requested:
    action = registry.get(kind)
    if action is None:
        raise ActionError(f"There is no action {kind!r}.")
    _require(acting_user, action.permission, tenant)
    existing = ActionRun.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        # The same confirmation submitted twice (a double click, a reload): one run.
        if existing.requested_by_id != acting_user.pk or existing.tenant_id != tenant.pk or existing.kind != kind:
            raise ActionError("This confirmation belongs to another request; start again from the tenant's page.")
        return Requested(existing, None, False)
    run, preview, approval, secret = _create_run(action, tenant, kind, parameters, acting_user, idempotency_key)
    _audit(
        "action.requested",
        run,
        acting_user=acting_user,
        request=request,
        preview=preview.summary,
        needs_approval=approval,
    )
    if not approval:
        _enqueue(run)
    return Requested(run, secret, True)


def _locked(run: ActionRun) -> ActionRun:
    return ActionRun.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=run.pk)


@transaction.atomic
def approve_run(run: ActionRun, *, acting_user: Any, request: HttpRequest | None = None) -> ActionRun:
    run = _locked(run)
    _require(acting_user, APPROVE_PERMISSION, run.tenant)
    if run.requested_by_id == acting_user.pk:
        raise SecondPersonRequired("A second admin must approve this; you requested it.")
    if run.state != State.AWAITING_APPROVAL:
        raise ActionError(f"Run #{run.pk} is {run.get_state_display().lower()}, not awaiting approval.")
    now = timezone.now()
    run.state, run.approved_by, run.approved_at, run.queued_at = State.QUEUED, acting_user, now, now
    run.save(update_fields=["state", "approved_by", "approved_at", "queued_at"])
    _audit("action.approved", run, acting_user=acting_user, request=request)
    _enqueue(run)
    return run


@transaction.atomic
def reject_run(run: ActionRun, *, acting_user: Any, request: HttpRequest | None = None) -> ActionRun:
    run = _locked(run)
    _require(acting_user, APPROVE_PERMISSION, run.tenant)
    if run.state != State.AWAITING_APPROVAL:
        raise ActionError(f"Run #{run.pk} is {run.get_state_display().lower()}, not awaiting approval.")
    run.state, run.cancelled_by, run.finished_at = State.CANCELLED, acting_user, timezone.now()
    run.save(update_fields=["state", "cancelled_by", "finished_at"])
    _audit("action.rejected", run, acting_user=acting_user, request=request)
    return run


@transaction.atomic
def cancel_run(run: ActionRun, *, acting_user: Any, request: HttpRequest | None = None) -> ActionRun:
    """Cancel a run that has not finished; a running one stops before its next batch."""
    run = _locked(run)
    action = registry.get(run.kind)
    _require(acting_user, action.permission if action else APPROVE_PERMISSION, run.tenant)
    if not run.is_live:
        raise ActionError(f"Run #{run.pk} has already {run.get_state_display().lower()}.")
    before = run.state
    run.state, run.cancelled_by, run.finished_at = State.CANCELLED, acting_user, timezone.now()
    run.save(update_fields=["state", "cancelled_by", "finished_at"])
    _audit("action.cancelled", run, acting_user=acting_user, request=request, was=before, done=run.progress_done)
    return run


@transaction.atomic
def retry_run(run: ActionRun, *, acting_user: Any, request: HttpRequest | None = None) -> ActionRun:
    """Queue a failed run again; it resumes from its last checkpoint."""
    run = _locked(run)
    action = registry.get(run.kind)
    if action is None:
        raise ActionError(f"There is no action {run.kind!r} any more.")
    _require(acting_user, action.permission, run.tenant)
    if run.state != State.FAILED:
        raise ActionError(f"Only a failed run can be retried; run #{run.pk} is {run.get_state_display().lower()}.")
    previous_error = run.error
    run.state, run.error, run.finished_at, run.queued_at = State.QUEUED, "", None, timezone.now()
    try:
        with transaction.atomic():
            run.save(update_fields=["state", "error", "finished_at", "queued_at"])
    except IntegrityError:
        raise ActionError(f"Another {action.label.lower()} run for {run.tenant.slug} is in progress.") from None
    _audit("action.retried", run, acting_user=acting_user, request=request, previous_error=previous_error)
    _enqueue(run)
    return run


# --- Runs opsdash requests itself -----------------------------------------------------------

SYSTEM_ACTOR = "system"
# What opsdash may decide on its own (a budget hard stop and its lifting); nothing destructive.
SYSTEM_RUN_KINDS = frozenset({"pause_tenant", "resume_tenant"})


def _audit_system(action: str, run: ActionRun, *, reason: str, **detail: Any) -> None:
    record_event(
        action,
        actor_label=SYSTEM_ACTOR,
        target=run,
        target_label=f"{run.kind} #{run.pk}",
        tenant=run.tenant,
        detail={"run": run.pk, "kind": run.kind, "parameters": run.parameters, "reason": reason, **detail},
    )


@transaction.atomic
def request_system_run(
    tenant: Tenant, kind: str, *, reason: str, parameters: dict[str, Any], idempotency_key: str
) -> Requested:
    """Request a run on opsdash's own behalf, e.g. the pause of a budget hard stop.

    There is no person to check permissions for: the run has no requester, and its audit
    row names the system as the actor and says why. It then goes through the same
    registry, approval rule, worker and audit trail as a run someone asked for.
    """
    if kind not in SYSTEM_RUN_KINDS:
        raise ActionError(f"opsdash does not request {kind!r} runs on its own.")
    action = registry.get(kind)
    if action is None:
        raise ActionError(f"There is no action {kind!r}.")
    reason = reason.strip()
    if not reason:
        raise ActionError("A system run needs a reason.")
    existing = ActionRun.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        if existing.requested_by_id is not None or existing.tenant_id != tenant.pk or existing.kind != kind:
            raise ActionError("This idempotency key belongs to another request.")
        return Requested(existing, None, False)
    run, preview, approval, _ = _create_run(action, tenant, kind, parameters, None, idempotency_key)
    _audit_system("action.requested", run, reason=reason, preview=preview.summary, needs_approval=approval)
    if not approval:
        _enqueue(run)
    return Requested(run, None, True)


@transaction.atomic
def cancel_system_run(run: ActionRun, *, reason: str) -> ActionRun:
    """Withdraw a run opsdash requested that has not finished (its reason is gone)."""
    run = _locked(run)
    if run.requested_by_id is not None:
        raise ActionError(f"Run #{run.pk} was requested by a person; opsdash does not cancel it.")
    if not run.is_live:
        return run
    before = run.state
    run.state, run.finished_at = State.CANCELLED, timezone.now()
    run.save(update_fields=["state", "finished_at"])
    _audit_system("action.cancelled", run, reason=reason, was=before, done=run.progress_done)
    return run
