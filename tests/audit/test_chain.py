"""The audit trail is append-only; its keyed chain and signed checkpoints reveal edits,
deletions, reordering and a removed tail, even by someone who can write the table."""

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
    assert "audit chain intact (4 rows" in verify()


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
    # Rewriting a row and its own signature still breaks the link to the next row.
    from opsdash.audit.chain import row_hash
    from opsdash.audit.selectors import chain_rows

    row = next(r for r in chain_rows() if r["id"] == trail[1].pk)
    row["actor_label"] = "mallory"
    forged = row_hash(row["prev_hash"], row, b"a key that is not the audit key, guessed")
    tamper("UPDATE audit_auditevent SET actor_label = 'mallory', hash = %s WHERE id = %s", [forged, trail[1].pk])
    with pytest.raises(CommandError, match=f"broken at row {trail[1].pk}: .*signature"):
        verify()


def test_it_detects_the_newest_row_edited_and_re_hashed_without_the_key(trail):
    # The newest row has no successor to betray it: only the key does. An attacker with the
    # table but not OPSDASH_AUDIT_KEY recomputes a plain (unkeyed) hash, as the old chain had.
    from opsdash.audit.chain import legacy_row_hash
    from opsdash.audit.selectors import chain_rows

    newest = trail[-1].pk
    row = next(r for r in chain_rows() if r["id"] == newest)
    row["actor_label"] = "mallory"
    tamper(
        "UPDATE audit_auditevent SET actor_label = 'mallory', hash = %s WHERE id = %s",
        [legacy_row_hash(row["prev_hash"], row), newest],
    )
    with pytest.raises(CommandError, match=f"broken at row {newest}: .*signature"):
        verify()


def test_it_detects_a_chain_signed_with_another_key(trail, settings):
    settings.AUDIT_KEY = b"a different key of at least thirty-two characters"
    with pytest.raises(CommandError, match=f"broken at row {trail[0].pk}"):
        verify()


def test_it_detects_a_deleted_tail_from_the_checkpoint(trail):
    from opsdash.audit import checkpoints

    checkpoints.write()
    assert "1 checkpoint(s) hold" in verify()
    # The two newest rows go: what is left is a consistent chain, but shorter than recorded.
    tamper("DELETE FROM audit_auditevent WHERE id >= %s", [trail[2].pk])
    with pytest.raises(CommandError, match=f"recorded 4 rows ending at row {trail[3].pk}: rows were deleted"):
        verify()


def test_it_detects_a_tail_replaced_by_new_rows(trail):
    # Delete the newest row and append a fresh one in its place: the count is back, the
    # checkpoint's last row is gone.
    from opsdash.audit import checkpoints

    checkpoints.write()
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [trail[3].pk])
    record_event("logout", detail={"note": "covering tracks"})
    with pytest.raises(CommandError, match="rows were deleted from the end"):
        verify()


def test_it_accepts_rows_added_after_a_checkpoint(trail):
    from opsdash.audit import checkpoints

    checkpoints.write()
    record_event("login.success", detail={})
    checkpoints.write()
    record_event("logout", detail={})
    assert "audit chain intact (6 rows, 2 checkpoint(s) hold)" in verify()


def test_it_refuses_a_checkpoint_file_someone_edited(trail, settings):
    import json

    from opsdash.audit import checkpoints

    checkpoints.write()
    path = settings.AUDIT_CHECKPOINT_FILE
    data = json.loads(path.read_text())
    data["rows"] = 2
    path.write_text(json.dumps(data) + "\n")
    with pytest.raises(CommandError, match="checkpoint line 1 cannot be trusted: its signature does not match"):
        verify()


def test_it_skips_checkpoints_of_another_database(trail, settings):
    import json

    from opsdash.audit import checkpoints

    other = checkpoints.take()
    other["database"] = "some_other_database"
    other["rows"] = 99
    other["sig"] = checkpoints._signature(other)
    settings.AUDIT_CHECKPOINT_FILE.write_text(json.dumps(other) + "\n")
    assert "1 checkpoint(s) of other databases skipped" in verify()


def test_the_beat_task_writes_a_signed_checkpoint_to_the_file_and_the_log(trail, settings, caplog):
    import json
    import logging

    from opsdash.audit.tasks import checkpoint

    with caplog.at_level(logging.INFO, logger="opsdash.audit"):
        assert checkpoint.apply().get() == 4
    line = json.loads(settings.AUDIT_CHECKPOINT_FILE.read_text())
    assert line["rows"] == 4
    assert line["last_id"] == trail[-1].pk
    assert line["last_hash"] == AuditEvent.objects.get(pk=trail[-1].pk).hash
    assert "audit checkpoint" in caplog.text
    assert line["sig"] in caplog.text
    assert oct(settings.AUDIT_CHECKPOINT_FILE.stat().st_mode & 0o777) == "0o600"


def test_the_database_refuses_truncate(trail):
    with connection.cursor() as cursor:
        # Deferred foreign-key checks pending in the test transaction would block TRUNCATE
        # before the trigger is even asked.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with (
        pytest.raises((InternalError, ProgrammingError), match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("TRUNCATE audit_auditevent CASCADE")
    assert AuditEvent.objects.count() == 4


def test_the_checkpoint_command_prints_what_it_wrote(trail, tmp_path):
    import json
    from io import StringIO

    out = StringIO()
    call_command("audit_checkpoint", "--file", str(tmp_path / "cp.jsonl"), stdout=out)
    assert json.loads(out.getvalue())["rows"] == 4
    assert "1 checkpoint(s) hold" in _verify_with(tmp_path / "cp.jsonl")


def _verify_with(path) -> str:  # type: ignore[no-untyped-def]
    from io import StringIO

    out = StringIO()
    call_command("verify_audit", "--checkpoints", str(path), stdout=out)
    return out.getvalue()
