from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from opsdash.audit import checkpoints
from opsdash.audit.chain import HASHED_FIELDS, ChainBreak, walk
from opsdash.audit.models import AuditEvent


def chain_rows(batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Every audit row in id order, as dicts of the hashed fields, streamed."""
    fields = [*HASHED_FIELDS, "prev_hash", "hash"]
    yield from AuditEvent.objects.order_by("id").values(*fields).iterator(chunk_size=batch)


@dataclass
class ChainReport:
    rows: int
    broken: ChainBreak | None
    checkpoints_checked: int = 0
    notes: list[str] = field(default_factory=list)
    # What weakens the answer without being a break: no checkpoint, or only old ones.
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.broken is None


def chain_status(checkpoint_file: Path | None = None) -> ChainReport:
    """Walk the chain once; then hold it against every signed checkpoint of this database.

    The walk finds edited, inserted, deleted and reordered rows inside the chain; the
    checkpoints find rows deleted from its end (which leave a shorter, consistent chain)."""
    entries = checkpoints.read(checkpoint_file)
    database = checkpoints.database_name()
    ours = [e for e in entries if isinstance(e, checkpoints.Checkpoint) and e.data.get("database") == database]
    marks = [e.data["last_id"] for e in ours if e.data.get("last_id") is not None]
    walked = walk(chain_rows(), settings.AUDIT_KEY, mark_ids=marks)
    report = ChainReport(rows=walked.rows, broken=walked.broken, checkpoints_checked=len(ours))
    others = sum(1 for e in entries if isinstance(e, checkpoints.Checkpoint)) - len(ours)
    if others:
        report.notes.append(f"{others} checkpoint(s) of other databases skipped")
    if report.broken is not None:
        return report
    for entry in entries:
        if isinstance(entry, checkpoints.Unreadable):
            report.broken = ChainBreak(None, f"checkpoint line {entry.line} cannot be trusted: {entry.reason}")
            return report
    assert walked.marks is not None
    if walked.rows and not ours:
        report.warnings.append(
            "no checkpoint of this database was found: rows deleted from the end of the chain would not be "
            "detected (is OPSDASH_AUDIT_CHECKPOINT_FILE the file beat writes?)"
        )
    elif ours:
        newest = max(dt.datetime.fromisoformat(e.data["at"]) for e in ours)
        age = timezone.now() - newest
        if age > dt.timedelta(seconds=2 * settings.AUDIT_CHECKPOINT_SECONDS) and walked.last_id not in walked.marks:
            report.warnings.append(
                f"the newest checkpoint is from {newest.isoformat()} ({int(age.total_seconds() // 60)} minutes ago): "
                "rows deleted since then would not be detected (is beat running?)"
            )
    for entry in ours:
        data = entry.data
        if data.get("last_id") is None:
            continue  # taken while the chain was empty: nothing to hold it to
        seen = walked.marks.get(data["last_id"])
        if seen is None:
            report.broken = ChainBreak(
                walked.last_id,
                f"the chain ends at row {walked.last_id} with {walked.rows} rows, but the checkpoint of "
                f"{data['at']} (line {entry.line}) recorded {data['rows']} rows ending at row {data['last_id']}: "
                "rows were deleted from the end",
            )
            return report
        position, row_hash = seen
        if row_hash != data["last_hash"] or position != data["rows"]:
            report.broken = ChainBreak(
                data["last_id"],
                f"it does not match the checkpoint of {data['at']} (line {entry.line}): "
                f"{data['rows']} rows ending with this row's signature were recorded",
            )
            return report
    return report


@dataclass(frozen=True)
class Reader:
    """Who reads the trail, in the trail's own terms: the trail knows no roles, so
    ``opsdash.accounts.access.audit_reader`` says what a user's role makes of them."""

    user: Any
    tenant_ids: frozenset[int] | None  # the tenants in their scope; None: every tenant
    admin: bool  # reads everyone's events within that scope, not only their own

    @property
    def everything(self) -> bool:
        return self.admin and self.tenant_ids is None


def visible_events(reader: Reader | None) -> QuerySet[AuditEvent]:
    """The events ``reader`` may read (None, someone without a role: none).

    A global admin reads every event. Anyone else reads an event only when every tenant it
    touches lies within their scope (and it touches at least one, and not every tenant), plus
    their own events that touch no tenant (their logins, their exports). Admins read all
    such events of their tenants; viewers and operators only their own."""
    events = AuditEvent.objects.select_related("tenant").order_by("-id")
    if reader is None:
        return events.none()
    if reader.everything:
        return events
    user = reader.user
    own_untenanted = Q(actor=user, tenant_ids=[], all_tenants=False)
    if reader.tenant_ids is None:
        within = Q(all_tenants=False) & ~Q(tenant_ids=[])
    else:
        scope = sorted(reader.tenant_ids)
        # "Overlaps" is what the GIN index answers quickly (and it rules out events of no
        # tenant); "contained by" then drops events that also touch a tenant out of scope.
        within = Q(all_tenants=False, tenant_ids__overlap=scope, tenant_ids__contained_by=scope)
    if reader.admin:
        return events.filter(within | own_untenanted)
    return events.filter(Q(actor=user) & (within | own_untenanted))


def event_kinds(reader: Reader | None) -> list[str]:
    """The kinds of event (actions) among those ``reader`` may read, for the filter's choices."""
    if reader is not None and reader.everything:
        # Every kind in the table: a loose index scan (one probe of the action index per
        # kind) instead of reading every row.
        with connection.cursor() as cursor:
            cursor.execute(
                """
                WITH RECURSIVE kinds(action) AS (
                  (SELECT action FROM audit_auditevent ORDER BY action LIMIT 1)
                  UNION ALL
                  SELECT (SELECT a.action FROM audit_auditevent a WHERE a.action > kinds.action
                          ORDER BY a.action LIMIT 1)
                  FROM kinds WHERE kinds.action IS NOT NULL
                )
                SELECT action FROM kinds WHERE action IS NOT NULL
                """
            )
            return [row[0] for row in cursor.fetchall()]
    return list(visible_events(reader).order_by().values_list("action", flat=True).distinct())


def count_at_most(events: QuerySet[AuditEvent], limit: int) -> int:
    """How many of ``events`` there are, counting no further than ``limit`` (a bounded read
    where an exact count of a long trail would read all of it)."""
    return events[:limit].count()


def in_id_order(events: QuerySet[AuditEvent], chunk_size: int = 2000) -> Iterator[AuditEvent]:
    """``events`` oldest first, streamed in chunks (for the CSV export)."""
    return events.order_by("id").iterator(chunk_size=chunk_size)
