from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from opsdash.accounts import access
from opsdash.accounts import selectors as account_reads
from opsdash.accounts.access import require_perm, require_role, tenant_for
from opsdash.accounts.models import Role
from opsdash.alerts import selectors, services
from opsdash.alerts.forms import BudgetForm, SloForm
from opsdash.alerts.models import RULES, Alert, Slo

PAGE_SIZE = 50
# The open list refreshes itself this often (htmx), so a new alert shows without a reload.
REFRESH_SECONDS = 30


class BadFilter(ValueError):
    pass


def _alert_filters(request: HttpRequest) -> dict[str, Any]:
    """The list's filters from the query string; a bad value is a 400 that names it."""
    state = request.GET.get("state") or Alert.State.OPEN
    if state not in Alert.State.values:
        raise BadFilter(f"'state' must be one of {', '.join(Alert.State.values)} (got {state[:40]!r}).")
    rule = request.GET.get("rule", "")
    if rule and rule not in RULES:
        raise BadFilter(f"'rule' must be one of {', '.join(RULES)} (got {rule[:40]!r}).")
    severity = request.GET.get("severity", "")
    if severity and severity not in Alert.Severity.values:
        raise BadFilter(f"'severity' must be one of {', '.join(Alert.Severity.values)} (got {severity[:40]!r}).")
    slug = (request.GET.get("tenant") or "").strip()
    tenant = tenant_for(request.user, slug) if slug else None
    return {"state": state, "rule": rule, "severity": severity, "tenant": tenant}


@require_GET
@require_role(Role.VIEWER)
def alert_list(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {
        "rules": RULES.items(),
        "severities": Alert.Severity.choices,
        "tenants": account_reads.tenant_list(request.user),
        "refresh_seconds": REFRESH_SECONDS,
        "quiet_minutes": settings.OPSDASH_ALERT_QUIET_MINUTES,
    }
    status = 200
    try:
        chosen = _alert_filters(request)
    except BadFilter as exc:
        chosen = {"state": Alert.State.OPEN, "rule": "", "severity": "", "tenant": None}
        context["filter_error"] = str(exc)
        status = 400
    alerts = selectors.filtered_alerts(
        request.user, rule=chosen["rule"], severity=chosen["severity"], tenant=chosen["tenant"]
    )
    listed = selectors.in_state(alerts, chosen["state"])
    page = Paginator(listed, PAGE_SIZE).get_page(request.GET.get("page"))
    for alert in page.object_list:
        alert.can_acknowledge = alert.state == Alert.State.OPEN and access.has_perm(  # type: ignore[attr-defined]
            request.user, "alerts.acknowledge_alert", alert
        )
    counts = selectors.state_counts(alerts)
    context.update(
        page=page,
        tabs=[(value, label, counts[value]) for value, label in Alert.State.choices],
        chosen=chosen,
        tenant_slug=chosen["tenant"].slug if chosen["tenant"] else "",
    )
    htmx = getattr(request, "htmx", None)
    partial = htmx and not htmx.history_restore_request and htmx.target == "alert-list"
    return render(request, "alerts/alerts.html#alert-list" if partial else "alerts/alerts.html", context, status=status)


def _back(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("alerts")


@require_POST
@login_required
def alert_acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = selectors.alert_for(request.user, alert_id)
    if not access.has_perm(request.user, "alerts.acknowledge_alert", alert):
        raise PermissionDenied("Acknowledging alerts needs the operator role.")
    try:
        services.acknowledge(alert, acting_user=request.user, request=request)
    except services.AlertError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Acknowledged “{alert.title}”: it is listed under Acknowledged, with your name.")
    return redirect(_back(request))


# --- Settings: SLOs -------------------------------------------------------------------------


def _slo_form(request: HttpRequest, instance: Slo | None = None) -> SloForm:
    return SloForm(
        request.POST or None,
        instance=instance,
        tenant_choices=account_reads.tenant_list(request.user),
        allow_all_tenants=access.may_see_global_numbers(request.user),
    )


@require_GET
@require_perm("alerts.manage_settings")
def settings_slos(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.manageable_slos(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "alerts/settings_slos.html", {"page": page})


def _save_slo(request: HttpRequest, form: SloForm, done: str) -> HttpResponse | None:
    if request.method != "POST":
        return None
    if not form.is_valid():
        return None
    services.save_slo(form.instance, acting_user=request.user, request=request)
    messages.success(request, done.format(slo=form.instance))
    return redirect("settings-slos")


@require_http_methods(["GET", "POST"])
@require_perm("alerts.manage_settings")
def slo_create(request: HttpRequest) -> HttpResponse:
    form = _slo_form(request)
    saved = _save_slo(request, form, "Added the SLO for {slo}.")
    if saved is not None:
        return saved
    status = 400 if request.method == "POST" else 200
    return render(request, "alerts/slo_form.html", {"form": form, "slo": None}, status=status)


@require_http_methods(["GET", "POST"])
@require_perm("alerts.manage_settings")
def slo_edit(request: HttpRequest, slo_id: int) -> HttpResponse:
    slo = selectors.managed_slo_or_404(request.user, slo_id)
    form = _slo_form(request, slo)
    saved = _save_slo(request, form, "Saved the SLO for {slo}.")
    if saved is not None:
        return saved
    status = 400 if request.method == "POST" else 200
    return render(request, "alerts/slo_form.html", {"form": form, "slo": slo}, status=status)


@require_POST
@require_perm("alerts.manage_settings")
def slo_set_enabled(request: HttpRequest, slo_id: int) -> HttpResponse:
    slo = selectors.managed_slo_or_404(request.user, slo_id)
    enabled = request.POST.get("enabled") == "1"
    services.set_slo_enabled(slo, enabled=enabled, acting_user=request.user, request=request)
    word = "enabled" if enabled else "disabled; its open alerts are resolved"
    messages.success(request, f"The SLO for {slo} is {word}.")
    return redirect("settings-slos")


# --- Settings: budgets ----------------------------------------------------------------------


def _budget_rows(request: HttpRequest, invalid: tuple[str, BudgetForm] | None = None) -> list[dict[str, Any]]:
    tenants = selectors.budget_tenants(request.user)
    spend = selectors.spend_by_tenant(timezone.now())
    rows = []
    for tenant in tenants:
        if invalid is not None and invalid[0] == tenant.slug:
            form = invalid[1]
        else:
            form = BudgetForm(
                initial={
                    "daily_budget_usd": tenant.daily_budget_usd,
                    "monthly_budget_usd": tenant.monthly_budget_usd,
                    "hard_stop": tenant.hard_stop,
                },
                prefix=tenant.slug,
            )
        today, month = spend.get(tenant.pk, (None, None))
        rows.append({"tenant": tenant, "form": form, "today": today, "month": month})
    return rows


def _budgets_context(page: Any) -> dict[str, Any]:
    return {"page": page, "thresholds": settings.OPSDASH_BUDGET_ALERT_THRESHOLDS}


@require_GET
@require_perm("alerts.manage_settings")
def settings_budgets(request: HttpRequest) -> HttpResponse:
    page = Paginator(_budget_rows(request), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "alerts/settings_budgets.html", _budgets_context(page))


@require_POST
@require_perm("alerts.manage_settings")
def budget_update(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = tenant_for(request.user, slug, "tenants.administer_tenant")
    form = BudgetForm(request.POST, prefix=tenant.slug)
    if not form.is_valid():
        page = Paginator(_budget_rows(request, (tenant.slug, form)), PAGE_SIZE).get_page(request.GET.get("page"))
        return render(request, "alerts/settings_budgets.html", _budgets_context(page), status=400)
    data = form.cleaned_data
    services.update_budget(
        tenant,
        acting_user=request.user,
        daily_budget_usd=data["daily_budget_usd"],
        monthly_budget_usd=data["monthly_budget_usd"],
        hard_stop=data["hard_stop"],
        request=request,
    )
    messages.success(request, f"Saved the budgets of {tenant.slug}.")
    return redirect(reverse("settings-budgets") + f"#budget-{tenant.slug}")
