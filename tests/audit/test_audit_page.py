from __future__ import annotations

import csv
import io

import pytest

from opsdash.audit.models import AuditEvent
from opsdash.audit.services import record_event


@pytest.fixture
def history(alice, carol, dave, acme, globex):
    record_event("user.create", actor=alice, tenant=acme, after={"role": "viewer"})
    record_event("user.role_change", actor=alice, tenant=globex, after={"role": "operator"})
    record_event("login.success", actor=carol)
    record_event("login.success", actor=dave)


def test_it_shows_every_event_to_an_admin_with_the_chain_status(client, alice, history):
    from django.core.management import call_command

    client.force_login(alice)
    assert b"chain not checked yet" in client.get("/audit/").content
    call_command("verify_audit", stdout=io.StringIO(), stderr=io.StringIO())  # as the hourly task does
    response = client.get("/audit/")
    # The four above and alice's own login.
    assert len(response.context["page"].object_list) == 5
    assert b"chain intact" in response.content


def test_it_shows_a_viewer_only_their_own_events(client, carol, history):
    client.force_login(carol)
    response = client.get("/audit/")
    events = list(response.context["page"].object_list)
    assert [e.actor_label for e in events] == ["carol", "carol"]  # her login here and the earlier one
    assert b"chain intact" not in response.content


def test_it_shows_a_scoped_admin_only_their_tenants(client, grace, history):
    client.force_login(grace)
    events = list(client.get("/audit/").context["page"].object_list)
    # acme's events and her own login, nothing about globex.
    assert [(e.action, e.tenant.slug if e.tenant else None) for e in events] == [
        ("login.success", None),
        ("user.create", "acme"),
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("actor=carol", 1),
        ("action=login.success", 3),
        ("tenant=globex", 1),
        ("since=2000-01-01&until=2100-01-01", 5),
        ("until=2000-01-01", 0),
    ],
)
def test_it_filters(client, alice, history, query, expected):
    client.force_login(alice)
    response = client.get(f"/audit/?{query}")
    assert len(response.context["page"].object_list) == expected


def test_it_explains_a_bad_filter(client, alice, history):
    client.force_login(alice)
    response = client.get("/audit/?since=2026-02-01&until=2026-01-01")
    assert response.status_code == 200
    assert b"&#x27;From&#x27; is after &#x27;Until&#x27;" in response.content or b"is after" in response.content


def test_it_paginates(client, alice):
    for i in range(60):
        record_event("login.success", actor=alice, detail={"n": i})
    client.force_login(alice)
    first = client.get("/audit/")
    assert len(first.context["page"].object_list) == 50
    second = client.get("/audit/?page=2")
    assert len(second.context["page"].object_list) == 11  # 60 and alice's login


def test_it_exports_csv_of_the_filtered_events_and_audits_the_export(client, alice, history):
    client.force_login(alice)
    response = client.get("/audit/export.csv?action=login.success")
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted(r["actor"] for r in rows) == ["alice", "carol", "dave"]
    export = AuditEvent.objects.filter(action="audit.export").get()
    assert export.detail == {"filters": {"action": "login.success"}}


def test_a_viewer_exports_only_their_own_events(client, carol, history):
    client.force_login(carol)
    response = client.get("/audit/export.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {r["actor"] for r in rows} == {"carol"}


def edit_first_row_behind_the_trigger() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_append_only")
        cursor.execute(
            "UPDATE audit_auditevent SET actor_label = 'x' WHERE id = (SELECT min(id) FROM audit_auditevent)"
        )
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_auditevent_append_only")


def test_it_shows_a_broken_chain(client, alice, history):
    from django.core.management import CommandError, call_command

    edit_first_row_behind_the_trigger()
    with pytest.raises(CommandError):
        call_command("verify_audit", stdout=io.StringIO(), stderr=io.StringIO())
    client.force_login(alice)
    assert b"chain broken at row" in client.get("/audit/").content


def test_it_does_not_trust_a_check_record_written_without_the_key(client, alice, history):
    from django.core.management import CommandError, call_command

    from opsdash.audit.models import ChainVerification

    edit_first_row_behind_the_trigger()
    with pytest.raises(CommandError):
        call_command("verify_audit", stdout=io.StringIO(), stderr=io.StringIO())
    # Someone who can write the table but lacks the key paints the check green.
    ChainVerification.objects.update(ok=True, row_id=None, reason="")
    client.force_login(alice)
    body = client.get("/audit/").content
    assert b"chain status not signed" in body
    assert b"chain intact" not in body


def test_it_shows_what_changed_in_words(client, alice, carol, acme):
    client.force_login(alice)
    client.post(f"/settings/users/{carol.pk}/", {"role": "operator", "tenants": ["acme"]})
    body = client.get("/audit/?action=user.role_change").content.decode()
    assert "role: viewer → operator; tenants: all → acme" in body


def test_it_counts_at_most_the_cap_and_says_how_to_see_older_events(client, alice, monkeypatch):
    from opsdash.web.audit import CappedPaginator

    monkeypatch.setattr(CappedPaginator, "CAP", 120)
    for i in range(130):
        record_event("token.create", actor=alice, detail={"n": i})
    client.force_login(alice)
    first = client.get("/audit/")
    assert first.context["page"].paginator.num_pages == 3  # 121 counted, 50 a page
    assert b'data-testid="capped"' not in first.content
    last = client.get("/audit/?page=3")
    assert b"narrow the filters" in last.content
    assert not last.context["page"].has_next()
