"""An audit event names every tenant it touches; an admin limited to some tenants reads it,
on the page and in the CSV export, only when all of them are in its scope."""

from __future__ import annotations

import csv
import io

import pytest

from opsdash.accounts import access, services
from opsdash.audit.models import AuditEvent
from opsdash.audit.selectors import visible_events
from opsdash.audit.services import record_event
from tests.conftest import make_user


def export(client) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    body = b"".join(client.get("/audit/export.csv").streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


@pytest.fixture
def moved(alice, acme, globex):
    """A globex viewer that alice moves to acme: the change touches both tenants."""
    user = services.create_user("moved", acting_user=alice, role="viewer", password=None, tenant_slugs=["globex"])
    services.change_role(user, acting_user=alice, role="viewer", tenant_slugs=["acme"])
    return user


def test_it_names_both_sides_of_a_role_change(moved, acme, globex):
    event = AuditEvent.objects.get(action="user.role_change")
    assert sorted(event.tenant_ids) == sorted([acme.pk, globex.pk])
    assert event.all_tenants is False


def test_it_hides_a_change_from_another_tenant_from_a_scoped_admin(client, grace, moved):
    client.force_login(grace)
    actions = [e.action for e in client.get("/audit/").context["page"].object_list]
    assert "user.role_change" not in actions
    assert "user.create" not in actions  # created in globex
    rows = export(client)
    assert not [r for r in rows if r["action"].startswith("user.")]
    assert "globex" not in "".join(",".join(r.values()) for r in rows)


def test_it_shows_the_change_to_a_global_admin_with_both_tenants(client, alice, moved):
    client.force_login(alice)
    row = next(r for r in export(client) if r["action"] == "user.role_change")
    assert row["tenants"] == "acme globex"
    page = client.get("/audit/").content.decode()
    assert "acme globex" in page


def test_it_hides_events_about_global_users_from_scoped_admins(client, grace, alice):
    services.create_user("root2", acting_user=alice, role="admin", password=None)
    event = AuditEvent.objects.get(action="user.create", object_label="root2")
    assert event.all_tenants is True
    client.force_login(grace)
    assert "user.create" not in [e.action for e in client.get("/audit/").context["page"].object_list]


def test_it_shows_a_scoped_admin_the_events_wholly_within_its_tenants(client, grace, alice, acme):
    services.create_user("acme-only", acting_user=alice, role="viewer", password=None, tenant_slugs=["acme"])
    client.force_login(grace)
    events = [e for e in client.get("/audit/").context["page"].object_list if e.action == "user.create"]
    assert [e.object_label for e in events] == ["acme-only"]


def test_it_files_events_about_a_user_under_everything_that_user_ever_reached(client, grace, alice, moved):
    # Deactivating the moved user touches globex too (its past scope), so grace does not see it.
    services.set_active(moved, acting_user=alice, active=False)
    event = AuditEvent.objects.get(action="user.deactivate")
    assert len(event.tenant_ids) == 2
    client.force_login(grace)
    assert "user.deactivate" not in [e.action for e in client.get("/audit/").context["page"].object_list]


def test_it_shows_a_scoped_operator_only_own_events_within_scope(client, frank, acme, globex):
    record_event("tenant.pause", actor=frank, tenant=acme)
    record_event("tenant.pause", actor=frank, tenant=globex)  # as if from before a re-scope
    client.force_login(frank)
    events = [
        (e.action, e.tenant.slug if e.tenant else None) for e in client.get("/audit/").context["page"].object_list
    ]
    assert ("tenant.pause", "acme") in events
    assert ("tenant.pause", "globex") not in events


def test_the_tenant_filter_finds_every_event_touching_the_tenant(client, alice, moved, globex):
    client.force_login(alice)
    actions = [e.action for e in client.get("/audit/?tenant=globex").context["page"].object_list]
    assert "user.role_change" in actions  # filed under acme, touches globex


@pytest.mark.parametrize("lead", ["=", "+", "-", "@", "\t", "\r"])
def test_the_export_neutralises_formula_cells(client, alice, lead):
    record_event("token.create", actor=alice, target_label=f'{lead}HYPERLINK("http://x")', detail={})
    client.force_login(alice)
    row = next(r for r in export(client) if r["action"] == "token.create")
    assert row["object"] == f'\'{lead}HYPERLINK("http://x")'


def test_the_export_keeps_plain_text_as_it_is(client, alice):
    record_event("token.create", actor=alice, target_label="gateway eu-west", detail={})
    client.force_login(alice)
    row = next(r for r in export(client) if r["action"] == "token.create")
    assert row["object"] == "gateway eu-west"


def test_a_user_with_no_role_reads_no_audit_events(db):
    nobody = make_user("nobody", None)
    record_event("login.success", actor=nobody)

    assert access.audit_reader(nobody) is None
    assert not visible_events(access.audit_reader(nobody)).exists()
