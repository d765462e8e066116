"""Edges of the audit trail: SLO moves between tenants, verification without checkpoints,
what a scoped admin's audit page offers."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from opsdash.audit import checkpoints
from opsdash.audit.models import AuditEvent
from opsdash.audit.services import record_event


def test_an_slo_moved_between_tenants_is_hidden_from_a_scoped_admin(client, alice, grace, acme, globex):
    from opsdash.alerts.models import Slo
    from opsdash.alerts.services import save_slo

    slo = save_slo(Slo(tenant=globex, route="/chat/answer", latency_target_ms=2000), acting_user=alice)
    slo.tenant = acme
    save_slo(slo, acting_user=alice)
    event = AuditEvent.objects.get(action="slo.update")
    assert sorted(event.tenant_ids) == sorted([acme.pk, globex.pk])
    client.force_login(grace)
    actions = [e.action for e in client.get("/audit/").context["page"].object_list]
    assert "slo.update" not in actions
    body = b"".join(client.get("/audit/export.csv").streaming_content).decode()
    assert "globex" not in body


def verify(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("verify_audit", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_warns_when_no_checkpoint_anchors_the_chain(alice):
    record_event("login.success", actor=alice)
    out, err = verify()
    assert "audit chain intact (1 rows" in out
    assert "no checkpoint of this database was found" in err
    with pytest.raises(CommandError, match="not fully verified: no checkpoint"):
        verify("--strict")


def test_it_warns_when_the_newest_checkpoint_is_old_and_rows_came_after(alice, settings):
    record_event("login.success", actor=alice)
    with time_machine.travel(timezone.now() - dt.timedelta(hours=2)):
        checkpoints.write()
    record_event("logout", actor=alice)
    _, err = verify()
    assert "rows deleted since then would not be detected" in err
    with pytest.raises(CommandError):
        verify("--strict")


def test_it_is_quiet_with_a_fresh_checkpoint(alice):
    record_event("login.success", actor=alice)
    checkpoints.write()
    out, err = verify("--strict")
    assert "1 checkpoint(s) hold" in out
    assert err == ""


def test_a_scoped_admin_sees_no_chain_badge_and_no_foreign_event_kinds(client, grace, alice, globex):
    record_event("tenant.secret_kind_of_event", actor=alice, tenant=globex)
    client.force_login(grace)
    response = client.get("/audit/")
    assert b"tenant.secret_kind_of_event" not in response.content
    assert b'data-testid="chain-status"' not in response.content
    client.force_login(alice)
    response = client.get("/audit/")
    assert b"tenant.secret_kind_of_event" in response.content
    assert b'data-testid="chain-status"' in response.content


def test_the_hourly_task_records_a_signed_check_the_page_shows(client, alice):
    from opsdash.audit.tasks import checkpoint, verify

    record_event("login.success", actor=alice)
    checkpoint.apply()
    assert verify.apply().get() is True
    verification, signed = checkpoints.latest_verification()
    assert signed
    assert verification.ok
    assert verification.rows == 1
    client.force_login(alice)
    assert b"chain intact</span>" in client.get("/audit/").content
