"""Event ingest: validate, drop duplicates, price, then write through the owning apps.

The raw events go to the event store (opsdash.telemetry.services.store_events, which
drops events already stored and COPYs the rest); in the same transaction, the safety
flags the stored events carry go to opsdash.safety.services and their input and output
text to opsdash.knowledge.services as conversation messages, redacted first for
tenants that ask for it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from opsdash.ingest.pii import redact
from opsdash.ingest.validation import TenantInfo, ValidEvent, validate_events
from opsdash.knowledge import services as knowledge
from opsdash.knowledge.models import Message
from opsdash.safety import services as safety
from opsdash.telemetry import partitions
from opsdash.telemetry import selectors as telemetry_reads
from opsdash.telemetry import services as telemetry
from opsdash.telemetry.services import COL
from opsdash.tenants import selectors as tenant_reads
from opsdash.tenants.models import Tenant

MILLION = Decimal(1_000_000)
_TS, _TENANT, _EVENT_ID, _ROUTE, _MODEL, _PROVIDER = (
    COL[c] for c in ("ts", "tenant_id", "event_id", "route", "model", "provider")
)
_IN_TOK, _OUT_TOK, _COST = COL["input_tokens"], COL["output_tokens"], COL["cost_usd"]
_CONVERSATION, _USER_HASH = COL["conversation_id"], COL["user_hash"]


@dataclass(frozen=True)
class Rejection:
    index: int
    field: str
    error: str


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [{"index": r.index, "field": r.field, "error": r.error} for r in self.rejected],
        }


def ingest_events(records: list[object]) -> IngestResult:
    """Store the valid, not yet seen events of ``records`` (dicts per the Event contract)."""
    if not isinstance(records, list):
        records = list(records)
    now = timezone.now()
    valid, problems = validate_events(records, tenants_by_slug, now, partitions.retention_cutoff(now))
    result = IngestResult(rejected=[Rejection(index, p.field, p.error) for index, p in problems])

    unique: list[ValidEvent] = []
    seen: set[tuple[int, str]] = set()
    for event in valid:
        key = (event.row[_TENANT], event.row[_EVENT_ID])
        if key in seen:
            result.duplicates += 1
        else:
            seen.add(key)
            unique.append(event)
    if not unique:
        return result

    apply_prices(unique)
    stored = telemetry.store_events(
        [e.row for e in unique], lambda kept: _store_side_records([unique[i] for i in kept])
    )
    result.accepted = stored
    result.duplicates += len(unique) - stored
    return result


# slug -> id of the tenants seen lately. A slug not in it is looked up at once, so a new
# tenant is accepted from its first event; entries live TENANT_CACHE_SECONDS, and any tenant
# saved or deleted in this process clears the cache. Whether a tenant redacts PII is read
# fresh for every batch that stores text (see _redacting).
TENANT_CACHE_SECONDS = 30.0
_tenant_ids: dict[str, int] = {}
_tenant_ids_since = 0.0


def forget_tenants(**_: object) -> None:
    _tenant_ids.clear()


post_save.connect(forget_tenants, sender=Tenant, dispatch_uid="ingest-forget-tenants-save")
post_delete.connect(forget_tenants, sender=Tenant, dispatch_uid="ingest-forget-tenants-delete")


def tenants_by_slug(slugs: Collection[str]) -> dict[str, TenantInfo]:
    global _tenant_ids_since
    now = time.monotonic()
    if now - _tenant_ids_since > TENANT_CACHE_SECONDS:
        _tenant_ids.clear()
        _tenant_ids_since = now
    missing = [slug for slug in slugs if slug not in _tenant_ids]
    if missing:
        _tenant_ids.update(tenant_reads.ids_by_slug(missing))
    return {slug: TenantInfo(pk) for slug in slugs if (pk := _tenant_ids.get(slug)) is not None}


def apply_prices(events: list[ValidEvent]) -> None:
    """Give events without a cost_usd the cost at the price in force at their ts.

    A provider-specific price wins over the model's blank-provider price; a model with
    no price in force keeps a NULL cost (unknown), never 0.
    """
    wanted = {e.row[_MODEL] for e in events if e.row[_COST] is None}
    if not wanted:
        return
    prices: dict[str, list[tuple[str, dt.datetime, Decimal, Decimal]]] = {}
    for model, provider, effective_from, price_in, price_out in telemetry_reads.prices_for(wanted):
        prices.setdefault(model, []).append((provider, effective_from, price_in, price_out))
    if not prices:
        return
    for event in events:
        row = event.row
        if row[_COST] is not None or row[_MODEL] not in prices:
            continue
        price = _price_at(prices[row[_MODEL]], row[_PROVIDER] or "", row[_TS])
        if price is not None:
            row[_COST] = (row[_IN_TOK] * price[0] + row[_OUT_TOK] * price[1]) / MILLION


def _price_at(
    candidates: list[tuple[str, dt.datetime, Decimal, Decimal]], provider: str, ts: dt.datetime
) -> tuple[Decimal, Decimal] | None:
    generic = None
    for cand_provider, effective_from, price_in, price_out in candidates:  # newest first
        if effective_from > ts:
            continue
        if provider and cand_provider == provider:
            return price_in, price_out
        if cand_provider == "" and generic is None:
            generic = (price_in, price_out)
    return generic


def _store_side_records(events: list[ValidEvent]) -> None:
    flagged = [e for e in events if e.safety]
    chatty = [e for e in events if e.input is not None or e.output is not None]
    if not flagged and not chatty:
        return
    redacting = tenant_reads.redacting({e.tenant.id for e in flagged} | {e.tenant.id for e in chatty})
    if flagged:
        safety.record_flags(
            [
                safety.NewFlag(
                    tenant_id=e.tenant.id,
                    ts=e.row[_TS],
                    event_id=e.row[_EVENT_ID],
                    conversation_id=e.row[_CONVERSATION] or "",
                    route=e.row[_ROUTE],
                    kind=kind,
                    severity=severity,
                    excerpt=redact(detail) if e.tenant.id in redacting else detail,
                )
                for e in flagged
                for kind, severity, detail in e.safety
            ]
        )
    if chatty:
        knowledge.record_messages(
            [
                knowledge.NewMessage(
                    tenant_id=e.tenant.id,
                    conversation=conversation_key(e)[1],
                    user_hash=e.row[_USER_HASH] or "",
                    role=role,
                    content=redact(text) if e.tenant.id in redacting else text,
                    event_id=e.row[_EVENT_ID],
                    ts=e.row[_TS],
                )
                for e in chatty
                for role, text in ((Message.Role.USER, e.input), (Message.Role.ASSISTANT, e.output))
                if text is not None
            ]
        )


def conversation_key(event: ValidEvent) -> tuple[int, str]:
    # No conversation_id: the call is a conversation of its own.
    return event.row[_TENANT], event.row[_CONVERSATION] or f"event:{event.row[_EVENT_ID]}"
