"""record_event(): the one way an AuditEvent is written."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.db.models import Model
from django.http import HttpRequest
from django.utils import timezone

from opsdash.audit.chain import GENESIS, row_hash
from opsdash.audit.models import AuditEvent

# Appends take this advisory lock so two writers never chain onto the same row.
_CHAIN_LOCK = 0x0A0D17


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    from django.conf import settings

    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip() or None
    return request.META.get("REMOTE_ADDR") or None


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
) -> AuditEvent:
    """Append one audit row in the caller's transaction (or its own)."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    label = actor_label or (actor.get_username() if actor is not None else "system")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])
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
            tenant=tenant,
            ip_address=client_ip(request),
            before=before,
            after=after,
            detail=detail or {},
            prev_hash=prev_hash,
        )
        event.hash = row_hash(prev_hash, _hashed_fields(event))
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
        "ip_address": event.ip_address,
        "before": event.before,
        "after": event.after,
        "detail": event.detail,
    }
