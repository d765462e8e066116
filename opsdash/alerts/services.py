"""Writes on alerts, SLOs and budgets. Each runs in one transaction with its audit event;
every alert transition tells the rest of opsdash through ``signals.alert_changed`` once
the transaction commits."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from opsdash.accounts import access
from opsdash.alerts.models import Alert, Slo
from opsdash.alerts.signals import alert_changed
from opsdash.audit.services import record_event
from opsdash.tenants.models import Tenant

SYSTEM = "system"
# An alert that clears and comes back within this long is reopened rather than raised
# anew, so a flapping condition is one alert with one history.
REOPEN_WITHIN = dt.timedelta(minutes=30)
# Resolution reasons the evaluation writes; "cleared" alerts may be reopened.
CLEARED = "cleared"


class AlertError(Exception):
    """A change refused because of the alert's current state; shown as is."""


# --- Notices --------------------------------------------------------------------------------


def notice_of(alert: Alert, transition: str) -> dict[str, Any]:
    """The notice of signals.py: exactly its documented keys."""
    return {
        "alert_id": alert.pk,
        "state": alert.state,
        "transition": transition,
        "rule": alert.rule,
        "severity": alert.severity,
        "title": alert.title,
        "text": alert.detail,
        "path": alert.path,
        "tenant": alert.tenant.slug if alert.tenant_id and alert.tenant else "",
        "opened_at": alert.opened_at.astimezone(dt.UTC).isoformat(),
    }


def _send(notice: dict[str, Any]) -> None:
    alert_changed.send(sender=Alert, notice=notice)


def _notify(alert: Alert, transition: str, notify: bool) -> None:
    if notify:
        # robust: a failing receiver is logged and never undoes or blocks the transition.
        transaction.on_commit(partial(_send, notice_of(alert, transition)), robust=True)


def _snapshot(alert: Alert) -> dict[str, Any]:
    return {
        "state": alert.state,
        "rule": alert.rule,
        "subject": alert.subject,
        "severity": alert.severity,
        "level": alert.level,
        "period": alert.period,
        "title": alert.title,
    }


def _audit(action: str, alert: Alert, *, acting_user: Any = None, request: HttpRequest | None = None,
           before: Any = None, **detail: Any) -> None:  # fmt: skip
    record_event(
        action,
        actor=acting_user,
        actor_label=None if acting_user is not None else SYSTEM,
        target=alert,
        target_label=f"alert #{alert.pk}: {alert.title}"[:200],
        tenant=alert.tenant,
        request=request,
        before=before,
        after=_snapshot(alert),
        detail=detail,
    )


# --- The evaluation's writes ----------------------------------------------------------------


SUBJECT_MAX, TITLE_MAX, PATH_MAX = 200, 300, 500  # Alert.subject, .title, .path


def fit_subject(subject: str) -> str:
    """The subject as stored: a long one keeps a hash of the whole, so two long route or
    model names stay two alerts (the rules look alerts up by this, too)."""
    if len(subject) <= SUBJECT_MAX:
        return subject
    digest = hashlib.sha256(subject.encode()).hexdigest()[:16]
    return f"{subject[: SUBJECT_MAX - 17]}#{digest}"


@dataclass(frozen=True)
class Raised:
    """What the evaluation wants open for one (rule, subject)."""

    rule: str
    subject: str
    severity: str
    title: str
    detail: str
    path: str
    tenant: Tenant | None = None
    slo: Slo | None = None
    period: str = ""
    level: int | None = None
    # The value the title names (error rate, flags in an hour): the alert keeps the worst.
    peak: float | None = None

    def __post_init__(self) -> None:
        # Fit the columns on every path (open, keep, reopen). Route and model names come from
        # producers (up to 200 characters, URL-encoded in links): a long subject keeps a hash
        # of the whole, so two long names stay two alerts; a link that would be cut loses its
        # query instead of ending half-encoded.
        object.__setattr__(self, "subject", fit_subject(self.subject))
        object.__setattr__(self, "title", self.title[:TITLE_MAX])
        if len(self.path) > PATH_MAX:
            object.__setattr__(self, "path", self.path.split("?", 1)[0][:PATH_MAX])


def quiet_period() -> dt.timedelta:
    return dt.timedelta(minutes=int(settings.OPSDASH_ALERT_QUIET_MINUTES))


@transaction.atomic
def open_or_keep(raised: Raised, *, now: dt.datetime | None = None, notify: bool = True) -> tuple[Alert, str | None]:
    """Open the alert, keep the unresolved one of the same (rule, subject), or reopen one
    that cleared moments ago. Returns the alert and its transition (None when kept)."""
    now = now or timezone.now()
    current = (
        Alert.objects.select_for_update()
        .filter(rule=raised.rule, subject=raised.subject)
        .exclude(state=Alert.State.RESOLVED)
        .first()
    )
    if current is not None:
        # Kept: the numbers in its text follow the condition, quietly (no new notice); its
        # link stays the one it opened with, which frames the start of the trouble. The
        # condition is back above the resolve threshold: a quiet stretch starts over.
        changed = [name for name in ("title", "detail", "severity") if getattr(current, name) != getattr(raised, name)]
        for name in changed:
            setattr(current, name, getattr(raised, name))
        if raised.peak is not None and (current.peak is None or raised.peak > current.peak):
            current.peak = raised.peak
            changed.append("peak")
        if current.quiet_since is not None:
            current.quiet_since = None
            changed.append("quiet_since")
        if changed:
            current.save(update_fields=changed)
        return current, None
    recent = (
        Alert.objects.select_for_update()
        .filter(
            rule=raised.rule,
            subject=raised.subject,
            period=raised.period,
            level=raised.level,
            state=Alert.State.RESOLVED,
            resolved_reason=CLEARED,
            resolved_at__gte=now - REOPEN_WITHIN,
        )
        .order_by("-resolved_at", "-id")
        .first()
    )
    if recent is not None:
        before = _snapshot(recent)
        recent.state = Alert.State.OPEN
        recent.resolved_at = None
        recent.resolved_reason = ""
        recent.acknowledged_by = None
        recent.acknowledged_at = None
        recent.quiet_since = None
        recent.severity, recent.title, recent.detail, recent.path = (
            raised.severity, raised.title, raised.detail, raised.path,
        )  # fmt: skip
        recent.peak = raised.peak  # the title names this episode's worst, not the last one's
        recent.save(
            update_fields=[
                "state", "resolved_at", "resolved_reason", "acknowledged_by", "acknowledged_at", "quiet_since",
                "severity", "title", "detail", "path", "peak",
            ]
        )  # fmt: skip
        _audit("alert.reopened", recent, before=before)
        _notify(recent, "reopened", notify)
        return recent, "reopened"
    alert = Alert.objects.create(
        rule=raised.rule,
        subject=raised.subject,
        tenant=raised.tenant,
        slo=raised.slo,
        severity=raised.severity,
        state=Alert.State.OPEN,
        level=raised.level,
        title=raised.title,
        detail=raised.detail,
        path=raised.path,
        period=raised.period,
        peak=raised.peak,
        opened_at=now,
    )
    _audit("alert.opened", alert, detail=alert.detail)
    _notify(alert, "opened", notify)
    return alert, "opened"


def hold(alert: Alert) -> None:
    """The alert's condition is between its rule's thresholds (not quiet): a quiet stretch
    that had started is over."""
    if alert.quiet_since is not None:
        Alert.objects.filter(pk=alert.pk).update(quiet_since=None)
        alert.quiet_since = None


@transaction.atomic
def quiet(alert: Alert, *, now: dt.datetime, notify: bool = True) -> bool:
    """The alert's condition is below its rule's resolve threshold at ``now``. Resolve it
    ("cleared") once that has held for the quiet period (OPSDASH_ALERT_QUIET_MINUTES);
    until then it stays open, and coming back above the threshold (open_or_keep) starts
    the stretch over. True when it resolved."""
    alert = Alert.objects.select_for_update(of=("self",)).get(pk=alert.pk)
    if alert.is_resolved:
        return False
    if alert.quiet_since is None or alert.quiet_since > now:
        alert.quiet_since = now
        alert.save(update_fields=["quiet_since"])
    if now - alert.quiet_since < quiet_period():
        return False
    resolve(alert, reason=CLEARED, now=now, notify=notify)
    return True


@transaction.atomic
def resolve(
    alert: Alert,
    *,
    reason: str,
    acting_user: Any = None,
    now: dt.datetime | None = None,
    request: HttpRequest | None = None,
    notify: bool = True,
) -> Alert:
    """Resolve an alert: the evaluation when its condition cleared (or its period ended,
    or a higher threshold took over), or a person. Resolving twice does nothing."""
    alert = Alert.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=alert.pk)
    if alert.is_resolved:
        return alert
    if acting_user is not None and not access.has_perm(acting_user, "alerts.acknowledge_alert", alert):
        raise PermissionDenied("Resolving alerts needs the operator role.")
    before = _snapshot(alert)
    alert.state = Alert.State.RESOLVED
    alert.resolved_at = now or timezone.now()
    alert.resolved_by = acting_user
    alert.resolved_reason = reason[:200]
    alert.save(update_fields=["state", "resolved_at", "resolved_by", "resolved_reason"])
    _audit("alert.resolved", alert, acting_user=acting_user, request=request, before=before, reason=reason)
    _notify(alert, "resolved", notify)
    return alert


@transaction.atomic
def acknowledge(alert: Alert, *, acting_user: Any, request: HttpRequest | None = None) -> Alert:
    """Someone is on it: the alert leaves the open list with their name on it."""
    alert = Alert.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=alert.pk)
    if not access.has_perm(acting_user, "alerts.acknowledge_alert", alert):
        raise PermissionDenied("Acknowledging alerts needs the operator role.")
    if alert.state != Alert.State.OPEN:
        raise AlertError(f"Alert #{alert.pk} is {alert.get_state_display().lower()}, not open.")
    before = _snapshot(alert)
    alert.state = Alert.State.ACKNOWLEDGED
    alert.acknowledged_by = acting_user
    alert.acknowledged_at = timezone.now()
    alert.save(update_fields=["state", "acknowledged_by", "acknowledged_at"])
    _audit("alert.acknowledged", alert, acting_user=acting_user, request=request, before=before)
    _notify(alert, "acknowledged", True)
    return alert


# --- SLOs -----------------------------------------------------------------------------------

SLO_FIELDS = (
    "route", "tenant", "latency_percentile", "latency_target_ms", "error_rate_target_pct", "window_days", "enabled",
)  # fmt: skip


def _slo_values(slo: Slo) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in SLO_FIELDS:
        value = getattr(slo, name)
        if name == "tenant":
            value = value.slug if value is not None else None
        elif isinstance(value, Decimal):
            value = str(value)
        values[name] = value
    return values


def _require_slo_admin(user: Any, tenant: Tenant | None) -> None:
    allowed = access.has_perm(user, "alerts.manage_settings") and (
        access.has_perm(user, "tenants.administer_tenant", tenant)
        if tenant is not None
        else access.may_see_global_numbers(user)
    )
    if not allowed:
        raise PermissionDenied("Managing this SLO needs the admin role over its tenants.")


@transaction.atomic
def save_slo(slo: Slo, *, acting_user: Any, request: HttpRequest | None = None) -> Slo:
    """Create or change an SLO (already validated by its form)."""
    _require_slo_admin(acting_user, slo.tenant)
    before = None
    old_tenant = slo.tenant
    if slo.pk:
        old = Slo.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=slo.pk)
        _require_slo_admin(acting_user, old.tenant)
        before = _slo_values(old)
        old_tenant = old.tenant
    slo.save()
    after = _slo_values(slo)
    record_event(
        "slo.update" if before else "slo.create",
        actor=acting_user,
        target=slo,
        tenant=slo.tenant,
        request=request,
        before=before,
        after=after,
        # A moved SLO touches both tenants; one of no tenant (global) touches every tenant.
        tenants=[t for t in (old_tenant, slo.tenant) if t is not None],
        all_tenants=old_tenant is None or slo.tenant is None,
    )
    return slo


@transaction.atomic
def set_slo_enabled(
    slo: Slo, *, enabled: bool, acting_user: Any, request: HttpRequest | None = None, now: dt.datetime | None = None
) -> Slo:
    """Switch an SLO on or off; switching it off resolves its alerts (nothing watches them)."""
    slo = Slo.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=slo.pk)
    _require_slo_admin(acting_user, slo.tenant)
    if slo.enabled == enabled:
        return slo
    before = _slo_values(slo)
    slo.enabled = enabled
    slo.save(update_fields=["enabled", "updated_at"])
    record_event(
        "slo.enable" if enabled else "slo.disable",
        actor=acting_user,
        target=slo,
        tenant=slo.tenant,
        request=request,
        before=before,
        after=_slo_values(slo),
        all_tenants=slo.tenant is None,
    )
    if not enabled:
        for alert in Alert.objects.filter(slo=slo).exclude(state=Alert.State.RESOLVED):
            resolve(alert, reason="SLO disabled", now=now)
    return slo


# --- Budgets --------------------------------------------------------------------------------


@transaction.atomic
def update_budget(
    tenant: Tenant,
    *,
    acting_user: Any,
    daily_budget_usd: Decimal | None,
    monthly_budget_usd: Decimal | None,
    hard_stop: bool,
    request: HttpRequest | None = None,
) -> Tenant:
    if not access.has_perm(acting_user, "tenants.administer_tenant", tenant):
        raise PermissionDenied("Changing budgets needs the admin role over the tenant.")
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)

    def money(value: Decimal | None) -> str | None:
        return None if value is None else str(Decimal(value).quantize(Decimal("0.01")))

    def values(t: Tenant) -> dict[str, Any]:
        return {
            "daily_budget_usd": money(t.daily_budget_usd),
            "monthly_budget_usd": money(t.monthly_budget_usd),
            "hard_stop": t.hard_stop,
        }

    before = values(tenant)
    tenant.daily_budget_usd = daily_budget_usd
    tenant.monthly_budget_usd = monthly_budget_usd
    tenant.hard_stop = hard_stop
    after = values(tenant)
    if after == before:
        return tenant
    tenant.save(update_fields=["daily_budget_usd", "monthly_budget_usd", "hard_stop"])
    record_event(
        "tenant.budget_update",
        actor=acting_user,
        target=tenant,
        tenant=tenant,
        request=request,
        before=before,
        after=after,
    )
    return tenant
