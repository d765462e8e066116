"""record_event(): the one way an AuditEvent is written."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model
from django.http import HttpRequest
from django.utils import timezone

from opsdash.audit import checkpoints
from opsdash.audit.chain import CHAIN_LOCK, GENESIS, row_hash
from opsdash.audit.models import AuditEvent
from opsdash.audit.selectors import ChainReport, chain_status
from opsdash.lib.clientip import client_ip


def record_event(
    action: str,
    *,
    actor: Any = None,
    actor_label: str | None = None,
    target: Model | None = None,
    target_label: str | None = None,
    tenant: Any = None,
    request: HttpRequest | None = None,
    before: Any = None,
    after: Any = None,
    detail: dict[str, Any] | None = None,
    tenants: Iterable[Any] = (),
    all_tenants: bool = False,
) -> AuditEvent:
    """Append one audit row in the caller's transaction (or its own).

    ``tenant`` is the tenant the event is filed under; ``tenants`` (objects or ids) every
    other tenant it touches, and ``all_tenants`` that it concerns every tenant (e.g. a
    global role): they decide which scoped admins may read it."""
    touched = {t if isinstance(t, int) else t.pk for t in tenants}
    if tenant is not None:
        touched.add(tenant if isinstance(tenant, int) else tenant.pk)
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    label = actor_label or (actor.get_username() if actor is not None else "system")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])
        last = AuditEvent.objects.order_by("-id").values_list("id", "hash").first()
        prev_hash = last[1] if last else GENESIS
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence('audit_auditevent', 'id'))")
            new_id = cursor.fetchone()[0]
        event = AuditEvent(
            id=new_id,
            ts=timezone.now(),
            actor=actor,
            actor_label=label[:150],
            action=action,
            object_type=target._meta.label_lower if target is not None else "",
            object_id=str(target.pk) if target is not None else "",
            object_label=(target_label or (str(target) if target is not None else ""))[:200],
            tenant_id=tenant if isinstance(tenant, int) or tenant is None else tenant.pk,
            tenant_ids=sorted(touched),
            all_tenants=all_tenants,
            ip_address=client_ip(request),
            before=before,
            after=after,
            detail=detail or {},
            prev_hash=prev_hash,
        )
        event.hash = row_hash(prev_hash, _hashed_fields(event), settings.AUDIT_KEY)
        event.save(force_insert=True)
    return event


def _hashed_fields(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "ts": event.ts,
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object_label": event.object_label,
        "tenant_id": event.tenant_id,
        "tenant_ids": event.tenant_ids,
        "all_tenants": event.all_tenants,
        "ip_address": event.ip_address,
        "before": event.before,
        "after": event.after,
        "detail": event.detail,
    }


def verify_chain(checkpoint_file: Path | None = None) -> ChainReport:
    """Check the whole chain against its checkpoints and keep the signed result, which the
    audit page shows."""
    report = chain_status(checkpoint_file)
    checkpoints.record_verification(report)
    return report
