"""Writes on tenants and their keys: pause, resume, rotate, revoke. Each runs in one
transaction with its audit event; the control API reads the result at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from opsdash.audit.services import record_event
from opsdash.lib.hashing import IssuedSecret, issue_secret
from opsdash.tenants.models import Tenant, TenantKey

KEY_KIND = "odk"  # tenant keys read odk_<prefix>_<secret>


class TenantChangeError(Exception):
    """A change refused because of the tenant's or key's current state; shown as is."""


def new_key_secret() -> IssuedSecret:
    return issue_secret(KEY_KIND)


@transaction.atomic
def pause_tenant(tenant: Tenant, *, acting_user: Any, reason: str, request: HttpRequest | None = None) -> Tenant:
    reason = reason.strip()
    if not reason:
        raise TenantChangeError("A reason is required to pause a tenant.")
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if tenant.is_paused:
        raise TenantChangeError(f"{tenant.slug} is already paused.")
    before = {"status": tenant.status}
    tenant.status = Tenant.Status.PAUSED
    tenant.paused_reason = reason[:2000]
    tenant.paused_at = timezone.now()
    tenant.save(update_fields=["status", "paused_reason", "paused_at"])
    record_event(
        "tenant.pause",
        actor=acting_user,
        target=tenant,
        tenant=tenant,
        request=request,
        before=before,
        after={"status": tenant.status, "reason": tenant.paused_reason},
    )
    return tenant


@transaction.atomic
def resume_tenant(tenant: Tenant, *, acting_user: Any, reason: str, request: HttpRequest | None = None) -> Tenant:
    reason = reason.strip()
    if not reason:
        raise TenantChangeError("A reason is required to resume a tenant.")
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if not tenant.is_paused:
        raise TenantChangeError(f"{tenant.slug} is not paused.")
    before = {"status": tenant.status, "reason": tenant.paused_reason}
    tenant.status = Tenant.Status.ACTIVE
    tenant.paused_reason = ""
    tenant.paused_at = None
    tenant.save(update_fields=["status", "paused_reason", "paused_at"])
    record_event(
        "tenant.resume",
        actor=acting_user,
        target=tenant,
        tenant=tenant,
        request=request,
        before=before,
        after={"status": tenant.status},
        detail={"reason": reason[:2000]},
    )
    return tenant


@dataclass(frozen=True)
class Rotation:
    new_key: TenantKey
    expiring: list[str]  # prefixes of the keys moved to expiring (or revoked when grace is 0)
    grace_deadline: Any


@transaction.atomic
def rotate_keys(
    tenant: Tenant,
    *,
    acting_user: Any,
    prefix: str,
    secret_hash: str,
    grace_hours: int,
    name: str = "",
    request: HttpRequest | None = None,
) -> Rotation:
    """Add a key (issued beforehand, only its prefix and hash arrive here) and move the
    tenant's other live keys to expiring at now + grace; a grace of 0 revokes them now."""
    if grace_hours < 0:
        raise TenantChangeError("The grace period cannot be negative.")
    existing = TenantKey.objects.filter(prefix=prefix).first()
    if existing is not None:
        # The same rotation applied again (a replayed batch): nothing more to do.
        if existing.tenant_id != tenant.pk or existing.secret_hash != secret_hash:
            raise TenantChangeError("A key with this prefix already exists.")
        return Rotation(existing, [], existing.created_at)
    now = timezone.now()
    deadline = now + timedelta(hours=grace_hours)
    old = list(
        TenantKey.objects.select_for_update()
        .filter(tenant=tenant, state__in=[TenantKey.State.ACTIVE, TenantKey.State.EXPIRING])
        .order_by("id")
    )
    moved = []
    for key in old:
        if grace_hours == 0:
            key.state, key.revoked_at = TenantKey.State.REVOKED, now
        elif key.state == TenantKey.State.ACTIVE or key.expires_at is None or key.expires_at > deadline:
            # A key already expiring sooner keeps its earlier deadline.
            key.state, key.expires_at = TenantKey.State.EXPIRING, deadline
        else:
            continue
        key.save(update_fields=["state", "expires_at", "revoked_at"])
        moved.append(key.prefix)
    new_key = TenantKey.objects.create(
        tenant=tenant, name=name[:100] or f"rotated {now:%Y-%m-%d %H:%M}", prefix=prefix, secret_hash=secret_hash
    )
    record_event(
        "tenant.keys_rotate",
        actor=acting_user,
        target=tenant,
        tenant=tenant,
        request=request,
        after={"new_key": new_key.prefix, "grace_hours": grace_hours},
        detail={"revoked" if grace_hours == 0 else "expiring": moved, "deadline": deadline.isoformat()},
    )
    return Rotation(new_key, moved, deadline)


@transaction.atomic
def revoke_key(key: TenantKey, *, acting_user: Any, request: HttpRequest | None = None) -> TenantKey:
    key = TenantKey.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=key.pk)
    if key.state == TenantKey.State.REVOKED:
        raise TenantChangeError(f"The key {key.prefix}… is already revoked.")
    before = {"state": key.state}
    key.state = TenantKey.State.REVOKED
    key.revoked_at = timezone.now()
    key.save(update_fields=["state", "revoked_at"])
    record_event(
        "tenant.key_revoke",
        actor=acting_user,
        target=key,
        tenant=key.tenant,
        request=request,
        before=before,
        after={"state": key.state},
    )
    return key


def revoke_expired_keys(*, acting_user: Any = None, now: Any = None) -> int:
    """Revoke expiring keys past their deadline, one short transaction per key."""
    now = now or timezone.now()
    ids = list(
        TenantKey.objects.filter(state=TenantKey.State.EXPIRING, expires_at__lte=now).values_list("id", flat=True)
    )
    revoked = 0
    for key_id in ids:
        with transaction.atomic():
            key = (
                TenantKey.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("tenant")
                .filter(pk=key_id, state=TenantKey.State.EXPIRING, expires_at__lte=now)
                .first()
            )
            if key is None:
                continue
            key.state = TenantKey.State.REVOKED
            key.revoked_at = now
            key.save(update_fields=["state", "revoked_at"])
            record_event(
                "tenant.key_expire",
                actor=acting_user,
                target=key,
                tenant=key.tenant,
                before={
                    "state": TenantKey.State.EXPIRING,
                    "expires_at": key.expires_at.isoformat() if key.expires_at else None,
                },
                after={"state": key.state},
            )
            revoked += 1
    return revoked


def create_key(tenant: Tenant, *, acting_user: Any, name: str = "") -> tuple[TenantKey, str]:
    """A new active key next to the existing ones; the secret is returned once."""
    issued = new_key_secret()
    with transaction.atomic():
        key = TenantKey.objects.create(
            tenant=tenant, name=name[:100], prefix=issued.prefix, secret_hash=issued.secret_hash
        )
        record_event("tenant.key_create", actor=acting_user, target=key, tenant=tenant, after={"prefix": key.prefix})
    return key, issued.secret
