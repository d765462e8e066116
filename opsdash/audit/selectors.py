from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from opsdash.accounts.access import access_of
from opsdash.audit.chain import HASHED_FIELDS, ChainBreak, first_break
from opsdash.audit.models import AuditEvent


def chain_rows(batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Every audit row in id order, as dicts of the hashed fields, streamed."""
    fields = [*HASHED_FIELDS, "prev_hash", "hash"]
    yield from AuditEvent.objects.order_by("id").values(*fields).iterator(chunk_size=batch)


def chain_status() -> ChainBreak | None:
    return first_break(chain_rows())


def visible_events(user: Any) -> QuerySet[AuditEvent]:
    """Admins see every event of their tenants (all of them when global); others only their own."""
    access = access_of(user)
    events = AuditEvent.objects.select_related("tenant").order_by("-id")
    if access.at_least("admin"):
        if access.tenant_ids is None:
            return events
        from django.db.models import Q

        return events.filter(Q(tenant_id__in=access.tenant_ids) | Q(actor=user))
    return events.filter(actor=user)
