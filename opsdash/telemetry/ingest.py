"""Event ingest: validate, drop duplicates, COPY into the partitioned raw table.

One batch is one transaction:

1. the idempotency keys (tenant_id, event_id) go into ``telemetry_event_key`` with
   ``ON CONFLICT DO NOTHING RETURNING``, in sorted order so two concurrent batches
   sharing keys queue behind each other instead of deadlocking;
2. only the rows whose key was new are COPYed (binary) into ``telemetry_event``;
3. their safety flags, conversations and messages are written.

A retried batch therefore changes nothing and counts every event as a duplicate.
Rollups are not touched here (their rows are hot and would serialise concurrent
batches); ``rollups.refresh_rollups`` folds committed events in from a cursor.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import orjson
import psycopg
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from opsdash.knowledge.models import Message
from opsdash.safety.models import SafetyFlag
from opsdash.telemetry import partitions
from opsdash.telemetry.models import ModelPrice
from opsdash.telemetry.pii import redact
from opsdash.telemetry.rollups import INGEST_LOCK
from opsdash.telemetry.validation import COL, COPY_COLUMNS, COPY_TYPES, TenantInfo, ValidEvent, validate_events
from opsdash.tenants.models import Tenant

log = logging.getLogger(__name__)

MILLION = Decimal(1_000_000)
_TS, _TENANT, _EVENT_ID, _ROUTE, _MODEL, _PROVIDER = (
    COL[c] for c in ("ts", "tenant_id", "event_id", "route", "model", "provider")
)
_IN_TOK, _OUT_TOK, _COST = COL["input_tokens"], COL["output_tokens"], COL["cost_usd"]
_CONVERSATION, _USER_HASH = COL["conversation_id"], COL["user_hash"]

# Keys travel as one JSON document: psycopg dumps Python lists into arrays in pure Python
# (~20 ms per 1,000 keys), orjson and json_to_recordset take well under a millisecond.
KEY_SQL = (
    "INSERT INTO telemetry_event_key (tenant_id, event_id, ts) "
    "SELECT t, e, s FROM json_to_recordset(%s::json) AS k(t bigint, e text, s timestamptz) "
    "ON CONFLICT DO NOTHING RETURNING tenant_id, event_id"
)
COPY_SQL = f"COPY telemetry_event ({', '.join(COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
COPY_WITH_XID_SQL = f"COPY telemetry_event ({', '.join(COPY_COLUMNS)}, xid) FROM STDIN (FORMAT BINARY)"
BEGIN_SQL = "SELECT pg_advisory_xact_lock_shared(%s), pg_current_xact_id_if_assigned()::text::bigint"
# The cursor row is read FOR SHARE so that a fold cannot move it while this batch writes.
CURSOR_SQL = "SELECT greatest(%s, xid) FROM telemetry_rollup_cursor WHERE id = 1 FOR SHARE"
CONVERSATION_SQL = """
INSERT INTO knowledge_conversation AS c (tenant_id, external_id, user_hash, started_at, last_message_at)
SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[])
ON CONFLICT (tenant_id, external_id) DO UPDATE SET
    started_at = least(c.started_at, excluded.started_at),
    last_message_at = greatest(c.last_message_at, excluded.last_message_at),
    user_hash = CASE WHEN c.user_hash = '' THEN excluded.user_hash ELSE c.user_hash END
RETURNING id, tenant_id, external_id
"""


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
    slugs = {slug for r in records if type(r) is dict and type(slug := r.get("tenant")) is str}
    tenants = tenants_by_slug(slugs)  # type: ignore[arg-type]
    valid, problems = validate_events(records, tenants, now, partitions.retention_cutoff(now))
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
    stored = _store_with_retry(unique)
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


def tenants_by_slug(slugs: Iterable[str]) -> dict[str, TenantInfo]:
    global _tenant_ids_since
    now = time.monotonic()
    if now - _tenant_ids_since > TENANT_CACHE_SECONDS:
        _tenant_ids.clear()
        _tenant_ids_since = now
    missing = [slug for slug in slugs if slug not in _tenant_ids]
    if missing:
        _tenant_ids.update(Tenant.objects.filter(slug__in=missing).values_list("slug", "id"))
    return {slug: TenantInfo(pk) for slug in slugs if (pk := _tenant_ids.get(slug)) is not None}


def _redacting(tenant_ids: set[int]) -> set[int]:
    return set(Tenant.objects.filter(pk__in=tenant_ids, redact_pii=True).values_list("pk", flat=True))


def apply_prices(events: list[ValidEvent]) -> None:
    """Give events without a cost_usd the cost at the price in force at their ts.

    A provider-specific price wins over the model's blank-provider price; a model with
    no price in force keeps a NULL cost (unknown), never 0.
    """
    wanted = {e.row[_MODEL] for e in events if e.row[_COST] is None}
    if not wanted:
        return
    prices: dict[str, list[tuple[str, dt.datetime, Decimal, Decimal]]] = {}
    rows = (
        ModelPrice.objects.filter(model__in=wanted)
        .order_by("model", "-effective_from")
        .values_list("model", "provider", "effective_from", "input_usd_per_mtok", "output_usd_per_mtok")
    )
    for model, provider, effective_from, price_in, price_out in rows:
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


def _store_with_retry(events: list[ValidEvent]) -> int:
    days = {row[_TS].astimezone(dt.UTC).date() for row in (e.row for e in events)}
    partitions.ensure_days(days)
    try:
        return _store(events)
    except psycopg.errors.CheckViolation as exc:
        # A partition this process believed in was dropped meanwhile: look again, once.
        if "no partition" not in str(exc):
            raise
        partitions.forget_known()
        partitions.ensure_days(days)
        return _store(events)
    except psycopg.errors.DeadlockDetected:
        log.warning("ingest batch hit a deadlock; retrying once")
        return _store(events)


def _store(events: list[ValidEvent]) -> int:
    events = sorted(events, key=lambda e: (e.row[_TENANT], e.row[_EVENT_ID]))
    with transaction.atomic():
        connection.ensure_connection()
        raw = connection.connection
        with psycopg.Cursor(raw) as cursor:
            xid = begin_ingest(cursor)
            keys = orjson.dumps([{"t": e.row[_TENANT], "e": e.row[_EVENT_ID], "s": e.row[_TS]} for e in events])
            cursor.execute(KEY_SQL, [keys.decode()])
            if cursor.rowcount < len(events):  # some were stored before: keep the new ones
                new_keys = set(cursor.fetchall())
                events = [e for e in events if (e.row[_TENANT], e.row[_EVENT_ID]) in new_keys]
            if not events:
                return 0
            if xid is None:
                with cursor.copy(COPY_SQL) as copy:
                    copy.set_types(COPY_TYPES)
                    write = copy.write_row
                    for event in events:
                        write(event.row)
            else:
                with cursor.copy(COPY_WITH_XID_SQL) as copy:
                    copy.set_types((*COPY_TYPES, "int8"))
                    for event in events:
                        copy.write_row((*event.row, xid))
            _store_side_records(cursor, events)
    return len(events)


def begin_ingest(cursor: psycopg.Cursor) -> int | None:
    """Announce an ingest to the rollup folder before the first write (see rollups.horizon).

    Returns None when the rows may take their transaction's id. When the surrounding
    transaction had written before (an ingest nested in a caller's atomic block), its id
    predates the announcement and a fold may already have passed it; its rows then carry
    the cursor's value instead, which no fold passes while this transaction holds the lock.
    """
    cursor.execute(BEGIN_SQL, [INGEST_LOCK])
    assigned = cursor.fetchone()[1]  # type: ignore[index]
    if assigned is None:
        return None
    cursor.execute(CURSOR_SQL, [assigned])
    return int(cursor.fetchone()[0])  # type: ignore[index]


def _store_side_records(cursor: psycopg.Cursor, events: list[ValidEvent]) -> None:
    flagged = [e for e in events if e.safety]
    chatty = [e for e in events if e.input is not None or e.output is not None]
    if not flagged and not chatty:
        return
    redacting = _redacting({e.tenant.id for e in flagged} | {e.tenant.id for e in chatty})
    if flagged:
        SafetyFlag.objects.bulk_create(
            [
                SafetyFlag(
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
        _store_messages(cursor, chatty, redacting)


def conversation_key(event: ValidEvent) -> tuple[int, str]:
    # No conversation_id: the call is a conversation of its own.
    return event.row[_TENANT], event.row[_CONVERSATION] or f"event:{event.row[_EVENT_ID]}"


def _store_messages(cursor: psycopg.Cursor, events: list[ValidEvent], redacting: set[int]) -> None:
    spans: dict[tuple[int, str], list] = {}
    for e in events:
        key = conversation_key(e)
        ts = e.row[_TS]
        span = spans.get(key)
        if span is None:
            spans[key] = [ts, ts, e.row[_USER_HASH] or ""]
        else:
            span[0] = min(span[0], ts)
            span[1] = max(span[1], ts)
            span[2] = span[2] or e.row[_USER_HASH] or ""
    keys = sorted(spans)
    cursor.execute(
        CONVERSATION_SQL,
        [
            [k[0] for k in keys],
            [k[1] for k in keys],
            [spans[k][2] for k in keys],
            [spans[k][0] for k in keys],
            [spans[k][1] for k in keys],
        ],
        binary=True,
    )
    ids = {(tenant_id, external_id): pk for pk, tenant_id, external_id in cursor.fetchall()}
    messages = []
    for e in events:
        conversation = ids[conversation_key(e)]
        for role, text in ((Message.Role.USER, e.input), (Message.Role.ASSISTANT, e.output)):
            if text is None:
                continue
            messages.append(
                Message(
                    tenant_id=e.tenant.id,
                    conversation_id=conversation,
                    role=role,
                    content=redact(text) if e.tenant.id in redacting else text,
                    event_id=e.row[_EVENT_ID],
                    ts=e.row[_TS],
                )
            )
    Message.objects.bulk_create(messages)
