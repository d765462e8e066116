from __future__ import annotations

import secrets
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from opsdash.accounts import access
from opsdash.accounts.access import has_role, require_role, tenant_for
from opsdash.accounts.models import Role
from opsdash.actions import registry, selectors, services
from opsdash.actions.forms import ConfirmForm
from opsdash.actions.models import ActionRun
from opsdash.tenants import services as tenant_services


def _action(kind: str) -> registry.Action:
    action = registry.get(kind)
    if action is None:
        raise Http404("No such action.")
    return action


def _receipt(result: Any) -> list[tuple[str, str]]:
    if not isinstance(result, dict):
        return []
    rows = []
    for key, value in result.items():
        if isinstance(value, bool) or value is None:
            shown = {True: "yes", False: "no", None: "—"}[value]
        elif isinstance(value, int):
            shown = intcomma(value)
        elif isinstance(value, list):
            shown = ", ".join(str(v) for v in value) or "none"
        else:
            shown = str(value)
        rows.append((key.replace("_", " ").capitalize(), shown))
    return rows


def _run_context(request: HttpRequest, run: ActionRun, **extra: Any) -> dict[str, Any]:
    action = registry.get(run.kind)
    user = request.user
    may_operate = action is not None and access.has_perm(user, action.permission, run.tenant)
    may_administer = access.has_perm(user, services.APPROVE_PERMISSION, run.tenant)
    return {
        "run": run,
        "action": action,
        "parameters": action.describe_parameters(run.parameters) if action else list(run.parameters.items()),
        "receipt": _receipt(run.result),
        "can_cancel": may_operate and run.is_live,
        "can_retry": may_operate and run.state == ActionRun.State.FAILED,
        "can_approve": may_administer and run.requested_by_id != user.pk,
        **extra,
    }


# --- Requesting -----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def action_new(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    """GET: the parameters form. POST: the preview, counted, with the confirm form."""
    action = _action(kind)
    tenant = tenant_for(request.user, slug, action.permission)
    unavailable = action.unavailable(tenant)
    form = action.form_class(request.POST or None, tenant=tenant)
    context: dict[str, Any] = {"action": action, "tenant": tenant, "form": form, "unavailable": unavailable}
    if request.method == "GET" or unavailable:
        return render(request, "actions/action_form.html", context, status=409 if unavailable else 200)
    if not form.is_valid():
        return render(request, "actions/action_form.html", context, status=400)
    preview = action.preview(tenant, form.parameters())
    confirm = ConfirmForm(
        initial={"idempotency_key": secrets.token_urlsafe(24)}, tenant=tenant, destructive=action.destructive
    )
    context.update(preview=preview, confirm=confirm, needs_approval=services.needs_approval(kind))
    return render(request, "actions/action_preview.html", context)


@require_POST
@login_required
def action_confirm(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    action = _action(kind)
    tenant = tenant_for(request.user, slug, action.permission)
    form = action.form_class(request.POST, tenant=tenant)
    confirm = ConfirmForm(request.POST, tenant=tenant, destructive=action.destructive)
    context: dict[str, Any] = {"action": action, "tenant": tenant, "form": form, "confirm": confirm}
    if not form.is_valid():
        return render(request, "actions/action_form.html", context, status=400)
    parameters = form.parameters()
    if not confirm.is_valid():
        context.update(preview=action.preview(tenant, parameters), needs_approval=services.needs_approval(kind))
        return render(request, "actions/action_preview.html", context, status=400)
    try:
        requested = services.request_run(
            tenant,
            kind,
            acting_user=request.user,
            parameters=parameters,
            idempotency_key=confirm.cleaned_data["idempotency_key"],
            request=request,
        )
    except services.ActionError as exc:
        context.update(unavailable=str(exc))
        return render(request, "actions/action_form.html", context, status=409)
    if requested.secret:
        # Shown in this response only: nothing keeps the secret, so the page is not cached.
        response = render(
            request, "actions/action_detail.html", _run_context(request, requested.run, new_secret=requested.secret)
        )
        response["Cache-Control"] = "no-store"
        return response
    if requested.run.state == ActionRun.State.AWAITING_APPROVAL:
        messages.info(request, "Requested. A second admin must approve it before it runs.")
    return redirect("action-detail", run_id=requested.run.pk)


# --- Pages ----------------------------------------------------------------------------------


@require_GET
@require_role(Role.VIEWER)
def action_list(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    tenant = request.GET.get("tenant", "")
    runs = selectors.recent_runs(
        request.user, state=state if state in ActionRun.State.values else "", tenant_slug=tenant
    )
    page = Paginator(runs, 50).get_page(request.GET.get("page"))
    pending = selectors.awaiting_approval(request.user) if has_role(request.user, Role.ADMIN) else []
    context = {"page": page, "pending": pending, "states": ActionRun.State.choices, "state": state, "tenant": tenant}
    return render(request, "actions/action_list.html", context)


@require_GET
@require_role(Role.VIEWER)
def action_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = selectors.run_for(request.user, run_id)
    return render(request, "actions/action_detail.html", _run_context(request, run))


@require_GET
@require_role(Role.VIEWER)
def action_progress(request: HttpRequest, run_id: int) -> HttpResponse:
    run = selectors.run_for(request.user, run_id)
    return render(request, "actions/action_detail.html#progress", _run_context(request, run))


# --- Decisions on a run ---------------------------------------------------------------------


def _decide(request: HttpRequest, run_id: int, perm: str, change: Any, done: str) -> HttpResponse:
    run = selectors.run_for(request.user, run_id)
    tenant_for(request.user, run.tenant.slug, perm)
    try:
        run = change(run, acting_user=request.user, request=request)
    except services.ActionError as exc:
        context = _run_context(request, run, error=str(exc))
        return render(request, "actions/action_detail.html", context, status=409)
    messages.success(request, done.format(run=run))
    return redirect("action-detail", run_id=run.pk)


def _operate_perm(run_id: int) -> str:
    kind = selectors.kind_of_run(run_id)
    action = registry.get(kind) if kind else None
    return action.permission if action else services.APPROVE_PERMISSION


@require_POST
@login_required
def action_approve(request: HttpRequest, run_id: int) -> HttpResponse:
    return _decide(request, run_id, services.APPROVE_PERMISSION, services.approve_run, "Approved run #{run.pk}.")


@require_POST
@login_required
def action_reject(request: HttpRequest, run_id: int) -> HttpResponse:
    return _decide(request, run_id, services.APPROVE_PERMISSION, services.reject_run, "Rejected run #{run.pk}.")


@require_POST
@login_required
def action_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    return _decide(request, run_id, _operate_perm(run_id), services.cancel_run, "Cancelled run #{run.pk}.")


@require_POST
@login_required
def action_retry(request: HttpRequest, run_id: int) -> HttpResponse:
    return _decide(request, run_id, _operate_perm(run_id), services.retry_run, "Queued run #{run.pk} again.")


# --- Keys -----------------------------------------------------------------------------------


@require_POST
@login_required
def tenant_key_revoke(request: HttpRequest, slug: str, key_id: int) -> HttpResponse:
    tenant = tenant_for(request.user, slug, "tenants.operate_tenant")
    key = selectors.tenant_key_or_404(tenant, key_id)
    try:
        tenant_services.revoke_key(key, acting_user=request.user, request=request)
    except tenant_services.TenantChangeError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Revoked the key {key.prefix}…; the gateway refuses it from now on.")
    return redirect("tenant-detail", slug=tenant.slug)
