"""Writes on conversations, messages and embeddings, in batches that each fit one short
transaction. The callers (actions) own the transactions and the checkpoints: every
function here does one bounded piece of work and says where it got to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from django.db import connection
from django.utils import timezone

from opsdash.knowledge import vectors
from opsdash.knowledge.embedders import Embedder
from opsdash.knowledge.models import Document, EmbeddingGeneration, Message

# Conversations taken per window of a purge; their messages go in batches of batch_size.
PURGE_WINDOW = 1000


# --- Purge ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeScope:
    tenant_id: int
    before: datetime | None = None
    user_hash: str = ""

    def conversation_filter(self, alias: str = "c") -> tuple[str, list[Any]]:
        clauses = [f"{alias}.tenant_id = %s"]
        params: list[Any] = [self.tenant_id]
        if self.before is not None:
            clauses.append(f"{alias}.last_message_at < %s")
            params.append(self.before)
        if self.user_hash:
            clauses.append(f"{alias}.user_hash = %s")
            params.append(self.user_hash)
        return " AND ".join(clauses), params


def purge_counts(scope: PurgeScope) -> dict[str, int]:
    """How many conversations and messages a purge of ``scope`` deletes now."""
    where, params = scope.conversation_filter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT (SELECT count(*) FROM knowledge_conversation c WHERE {where}),
                   (SELECT count(*) FROM knowledge_message m
                     WHERE m.tenant_id = %s
                       AND m.conversation_id IN (SELECT c.id FROM knowledge_conversation c WHERE {where}))
            """,
            [*params, scope.tenant_id, *params],
        )
        conversations, messages = cursor.fetchone()
    return {"conversations": conversations, "messages": messages}


@dataclass(frozen=True)
class PurgeStep:
    messages: int = 0
    conversations: int = 0
    finished: bool = False


def purge_window(counts: dict[str, int], batch_size: int) -> int:
    """Conversations per window so that one window's messages usually fit one batch: then a
    window is deleted by one statement instead of being rescanned batch after batch."""
    if not counts["messages"] or not counts["conversations"]:
        return PURGE_WINDOW
    per_conversation = counts["messages"] / counts["conversations"]
    return max(1, min(PURGE_WINDOW, int(0.9 * batch_size / per_conversation)))


def purge_step(
    scope: PurgeScope, checkpoint: dict[str, Any], batch_size: int, window_size: int = PURGE_WINDOW
) -> PurgeStep:
    """Delete at most ``batch_size`` messages (and, once a window of conversations has no
    messages left, those conversations), updating ``checkpoint`` in place.

    Conversations are taken in id order, a window at a time: ``after`` is the highest id
    fully purged, ``window_hi`` the end of the window in progress. Re-running a step
    after a crash only finds what is still there, so nothing is counted twice.
    """
    where, params = scope.conversation_filter()
    after = int(checkpoint.get("after", 0))
    window_hi = checkpoint.get("window_hi")
    with connection.cursor() as cursor:
        if window_hi is None:
            cursor.execute(
                f"SELECT max(id) FROM (SELECT c.id FROM knowledge_conversation c WHERE {where} AND c.id > %s "
                f"ORDER BY c.id LIMIT %s) w",
                [*params, after, window_size],
            )
            window_hi = cursor.fetchone()[0]
            if window_hi is None:
                return PurgeStep(finished=True)
            checkpoint["window_hi"] = window_hi
        # Locked for the batch: a message written to one of these conversations meanwhile
        # waits for this transaction, so none slips in between the two deletes below.
        cursor.execute(
            f"SELECT c.id FROM knowledge_conversation c WHERE {where} AND c.id > %s AND c.id <= %s FOR UPDATE",
            [*params, after, window_hi],
        )
        ids = [row[0] for row in cursor.fetchall()]
        messages = conversations = 0
        if ids:
            # An explicit id list keeps the plan on the (conversation, ts) index whatever the
            # tenant's size: a semi-join may otherwise scan all the tenant's messages per batch.
            cursor.execute(
                "DELETE FROM knowledge_message WHERE id IN "
                "(SELECT id FROM knowledge_message WHERE conversation_id = ANY(%s) LIMIT %s)",
                [ids, batch_size],
            )
            messages = cursor.rowcount
            if messages >= batch_size:
                return PurgeStep(messages=messages)
            cursor.execute("DELETE FROM knowledge_conversation WHERE id = ANY(%s)", [ids])
            conversations = cursor.rowcount
    checkpoint["after"] = window_hi
    checkpoint["window_hi"] = None
    return PurgeStep(messages=messages, conversations=conversations)


# --- Embeddings -----------------------------------------------------------------------------


def document_count(tenant_id: int) -> int:
    return Document.objects.filter(tenant_id=tenant_id).count()


def active_generation(tenant_id: int) -> EmbeddingGeneration | None:
    return EmbeddingGeneration.objects.filter(tenant_id=tenant_id, state=EmbeddingGeneration.State.ACTIVE).first()


def start_generation(tenant_id: int, embedder: Embedder) -> EmbeddingGeneration:
    return EmbeddingGeneration.objects.create(
        tenant_id=tenant_id, embedder=embedder.name, dimensions=embedder.dimensions or 0
    )


def embed_step(generation: EmbeddingGeneration, embedder: Embedder, after_id: int, batch_size: int) -> tuple[int, int]:
    """Embed the next ``batch_size`` documents after id ``after_id`` into ``generation``.

    Returns (documents embedded, last document id); (0, after_id) when none are left.
    """
    docs = list(
        Document.objects.filter(tenant_id=generation.tenant_id, id__gt=after_id)
        .order_by("id")
        .values_list("id", "title", "content")[:batch_size]
    )
    if not docs:
        return 0, after_id
    matrix = embedder.embed([f"{title}\n{content}" for _, title, content in docs])
    if not generation.dimensions:
        generation.dimensions = int(matrix.shape[1])
        EmbeddingGeneration.objects.filter(pk=generation.pk).update(dimensions=generation.dimensions)
    kind = vectors.column_kind(connection)
    keys = [(generation.tenant_id, generation.pk, doc_id) for doc_id, _, _ in docs]
    # The caller's transaction makes the rows and its checkpoint one unit, so a batch is
    # either written and recorded or neither: COPY needs no conflict handling.
    copy_sql = "COPY knowledge_embedding (tenant_id, generation_id, document_id, vector) FROM STDIN (FORMAT BINARY)"
    with connection.cursor() as cursor, cursor.copy(copy_sql) as copy:
        copy.write(vectors.binary_copy(keys, matrix, kind))
    return len(docs), docs[-1][0]


def activate_generation(generation: EmbeddingGeneration) -> list[int]:
    """Make ``generation`` the tenant's active one; returns the ids of the generations it replaced."""
    State = EmbeddingGeneration.State
    old = list(
        EmbeddingGeneration.objects.select_for_update()
        .filter(tenant_id=generation.tenant_id, state=State.ACTIVE)
        .exclude(pk=generation.pk)
        .values_list("id", flat=True)
    )
    EmbeddingGeneration.objects.filter(pk__in=old).update(state=State.RETIRED)
    count = generation.embeddings.count()
    EmbeddingGeneration.objects.filter(pk=generation.pk).update(
        state=State.ACTIVE, activated_at=timezone.now(), documents=count
    )
    return old


def stale_generations(tenant_id: int, keep: int) -> list[int]:
    """Generations whose vectors are no longer needed: retired ones, and builds that failed."""
    State = EmbeddingGeneration.State
    return list(
        EmbeddingGeneration.objects.filter(tenant_id=tenant_id, state__in=[State.RETIRED, State.FAILED, State.BUILDING])
        .exclude(pk=keep)
        .values_list("id", flat=True)
    )


def delete_embeddings_step(generation_ids: list[int], batch_size: int) -> int:
    """Delete up to ``batch_size`` vectors of the given generations; 0 when none are left."""
    if not generation_ids:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM knowledge_embedding WHERE id IN "
            "(SELECT id FROM knowledge_embedding WHERE generation_id = ANY(%s) LIMIT %s)",
            [generation_ids, batch_size],
        )
        return cursor.rowcount


def fail_generation(generation_id: int) -> None:
    EmbeddingGeneration.objects.filter(pk=generation_id, state=EmbeddingGeneration.State.BUILDING).update(
        state=EmbeddingGeneration.State.FAILED
    )


# --- messages from ingest ------------------------------------------------------------------

CONVERSATION_SQL = """
INSERT INTO knowledge_conversation AS c (tenant_id, external_id, user_hash, started_at, last_message_at)
SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[])
ON CONFLICT (tenant_id, external_id) DO UPDATE SET
    started_at = least(c.started_at, excluded.started_at),
    last_message_at = greatest(c.last_message_at, excluded.last_message_at),
    user_hash = CASE WHEN c.user_hash = '' THEN excluded.user_hash ELSE c.user_hash END
RETURNING id, tenant_id, external_id
"""


@dataclass(frozen=True, slots=True)
class NewMessage:
    tenant_id: int
    conversation: str  # the producer's conversation id
    user_hash: str
    role: str  # Message.Role
    content: str  # already redacted where the tenant asks for it
    event_id: str
    ts: datetime


def record_messages(messages: list[NewMessage]) -> int:
    """Store messages, creating their conversations or widening their time span (in the
    caller's transaction). Conversations are upserted in key order, so two batches that
    share one cannot deadlock."""
    if not messages:
        return 0
    spans: dict[tuple[int, str], list[Any]] = {}
    for m in messages:
        key = (m.tenant_id, m.conversation)
        span = spans.get(key)
        if span is None:
            spans[key] = [m.ts, m.ts, m.user_hash]
        else:
            span[0] = min(span[0], m.ts)
            span[1] = max(span[1], m.ts)
            span[2] = span[2] or m.user_hash
    keys = sorted(spans)
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
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
    Message.objects.bulk_create(
        [
            Message(
                tenant_id=m.tenant_id,
                conversation_id=ids[(m.tenant_id, m.conversation)],
                role=m.role,
                content=m.content,
                event_id=m.event_id,
                ts=m.ts,
            )
            for m in messages
        ]
    )
    return len(messages)
