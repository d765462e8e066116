"""The audit trail is append-only and its hash chain reveals edits, deletions and reordering."""

from __future__ import annotations

import itertools

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.utils import InternalError, ProgrammingError

from opsdash.audit.models import AuditEvent
from opsdash.audit.services import record_event


@pytest.fixture
def trail(alice, acme):
    return [
        record_event("user.create", actor=alice, target=alice, tenant=acme, after={"role": "admin"}),
        record_event("token.create", actor=alice, detail={"kind": "ingest"}),
        record_event("login.success", actor=alice, target=alice),
        record_event("logout", actor=alice, target=alice),
    ]


def tamper(sql: str, params: list[object]) -> None:
    """Bypass the append-only trigger, as someone with the table owner's rights could."""
    with connection.cursor() as cursor:
        # Deferred foreign-key checks pending in the test transaction block ALTER TABLE.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_auditevent_append_only")


def verify() -> str:
    from io import StringIO

    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def test_it_chains_each_row_to_the_previous(trail):
    rows = list(AuditEvent.objects.order_by("id"))
    assert rows[0].prev_hash == "0" * 64
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.hash
    assert "audit chain intact (4 rows)" in verify()


def test_the_database_refuses_updates(trail):
    with pytest.raises((InternalError, ProgrammingError), match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=trail[0].pk).update(action="nothing")


def test_the_database_refuses_deletes(trail):
    with pytest.raises((InternalError, ProgrammingError), match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=trail[1].pk).delete()


def test_it_detects_an_edited_row(trail):
    tamper("UPDATE audit_auditevent SET actor_label = 'mallory' WHERE id = %s", [trail[1].pk])
    with pytest.raises(CommandError, match=f"broken at row {trail[1].pk}: .*edited"):
        verify()


def test_it_detects_a_deleted_row(trail):
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [trail[1].pk])
    with pytest.raises(CommandError, match=f"broken at row {trail[2].pk}: .*deleted"):
        verify()


def test_it_detects_reordered_rows(trail):
    a, b = trail[1].pk, trail[2].pk
    tamper("UPDATE audit_auditevent SET id = -1 WHERE id = %s", [a])
    tamper("UPDATE audit_auditevent SET id = %s WHERE id = %s", [a, b])
    tamper("UPDATE audit_auditevent SET id = %s WHERE id = -1", [b])
    with pytest.raises(CommandError, match=f"broken at row {a}"):
        verify()


def test_it_detects_an_edited_hash_chain_rewrite_of_one_row(trail):
    # Rewriting a row and its own hash still breaks the link to the next row.
    from opsdash.audit.chain import row_hash
    from opsdash.audit.selectors import chain_rows

    row = next(r for r in chain_rows() if r["id"] == trail[1].pk)
    row["actor_label"] = "mallory"
    forged = row_hash(row["prev_hash"], row)
    tamper("UPDATE audit_auditevent SET actor_label = 'mallory', hash = %s WHERE id = %s", [forged, trail[1].pk])
    with pytest.raises(CommandError, match=f"broken at row {trail[2].pk}"):
        verify()
