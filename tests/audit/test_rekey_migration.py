"""An audit chain written before the key existed is re-signed once, on upgrade, and the
upgrade itself is audited with the state the old chain was in."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from opsdash.audit.chain import GENESIS, legacy_row_hash

BEFORE = {"audit": "0002_append_only", "accounts": "0001_initial"}


def migrate(before_keys: bool):  # type: ignore[no-untyped-def]
    """Migrate every app to its newest migration, or audit and accounts to before the key."""
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    targets = [(app, BEFORE.get(app, name) if before_keys else name) for app, name in leaves]
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


def write_legacy_chain(apps, rows, tamper_at=None):  # type: ignore[no-untyped-def]
    AuditEvent = apps.get_model("audit", "AuditEvent")
    prev = GENESIS
    for number, fields in enumerate(rows, start=1):
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence('audit_auditevent', 'id'))")
            new_id = cursor.fetchone()[0]
        row = {
            "id": new_id, "ts": dt.datetime(2026, 11, 1, 12, number, tzinfo=dt.UTC), "actor_id": None,
            "actor_label": "alice", "object_type": "", "object_id": "", "object_label": "", "tenant_id": None,
            "ip_address": None, "before": None, "after": None, "detail": {}, **fields,
        }  # fmt: skip
        digest = legacy_row_hash(prev, row)
        if tamper_at == number:
            row["actor_label"] = "mallory"  # edited after it was hashed
        AuditEvent.objects.create(**row, prev_hash=prev, hash=digest)
        prev = digest


@pytest.fixture
def old_schema(transactional_db):
    apps = migrate(before_keys=True)
    yield apps
    migrate(before_keys=False)


def legacy_world(apps):  # type: ignore[no-untyped-def]
    Tenant = apps.get_model("tenants", "Tenant")
    User = apps.get_model("auth", "User")
    RoleAssignment = apps.get_model("accounts", "RoleAssignment")
    acme = Tenant.objects.create(slug="acme", name="Acme")
    globex = Tenant.objects.create(slug="globex", name="Globex")
    moved = User.objects.create(username="moved")
    RoleAssignment.objects.create(user=moved, role="viewer").tenants.set([acme])
    rows = [
        {"action": "login.success"},
        {"action": "tenant.pause", "tenant_id": globex.pk},
        {
            "action": "user.role_change", "object_type": "auth.user", "object_id": str(moved.pk),
            "object_label": "moved", "tenant_id": acme.pk,
            "before": {"role": "viewer", "tenants": ["globex"]}, "after": {"role": "viewer", "tenants": ["acme"]},
        },
    ]  # fmt: skip
    return acme, globex, moved, rows


def test_it_re_signs_an_intact_chain_and_records_it(old_schema):
    acme, globex, moved, rows = legacy_world(old_schema)
    write_legacy_chain(old_schema, rows)
    migrate(before_keys=False)

    from io import StringIO

    from opsdash.accounts.models import ScopeHistory
    from opsdash.audit.models import AuditEvent

    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "audit chain intact (4 rows" in out.getvalue()
    rekey = AuditEvent.objects.get(action="audit.rekey")
    assert rekey.detail["rows"] == 3
    assert rekey.detail["previous_chain"] == "intact"
    change = AuditEvent.objects.get(action="user.role_change")
    assert sorted(change.tenant_ids) == sorted([acme.pk, globex.pk])
    assert AuditEvent.objects.get(action="tenant.pause").tenant_ids == [globex.pk]
    # The user's past scope, learnt from the trail, keeps it out of acme's admins' reach.
    assert set(ScopeHistory.objects.filter(user_id=moved.pk).values_list("tenant_id", flat=True)) == {
        acme.pk,
        globex.pk,
    }


def test_it_records_that_the_old_chain_was_already_broken(old_schema):
    _, _, _, rows = legacy_world(old_schema)
    write_legacy_chain(old_schema, rows, tamper_at=2)
    migrate(before_keys=False)

    from opsdash.audit.models import AuditEvent

    rekey = AuditEvent.objects.get(action="audit.rekey")
    first = AuditEvent.objects.order_by("id").values_list("id", flat=True)[1]
    assert rekey.detail["previous_chain"].startswith(f"broken at row {first}")
