"""Every audited kind of change writes its AuditEvent (and model history where it applies)."""

from __future__ import annotations

from auditlog.models import LogEntry
from django.contrib.auth import get_user_model

from opsdash.audit.models import AuditEvent
from tests.conftest import PASSWORD


def actions() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


def test_it_audits_login_success_and_logout(client, carol):
    client.post("/accounts/login/", {"username": "carol", "password": PASSWORD}, REMOTE_ADDR="192.0.2.7")
    client.post("/accounts/logout/")
    assert actions() == ["login.success", "logout"]
    assert AuditEvent.objects.order_by("id").first().ip_address == "192.0.2.7"


def test_it_audits_a_login_failure_for_an_unknown_user(client, db):
    client.post("/accounts/login/", {"username": "nobody", "password": "x"})
    event = AuditEvent.objects.get()
    assert event.action == "login.failure"
    assert event.actor is None
    assert event.actor_label == "anonymous (nobody)"


def test_it_keeps_model_history_of_role_changes_with_the_actor(client, alice, carol, acme):
    client.force_login(alice)
    entries = LogEntry.objects.filter(content_type__model="roleassignment", object_pk=str(carol.role_assignment.pk))
    existing = set(entries.values_list("pk", flat=True))
    client.post(f"/settings/users/{carol.pk}/", {"role": "operator", "tenants": ["acme"]})
    new = entries.exclude(pk__in=existing)
    assert {entry.action for entry in new} >= {LogEntry.Action.UPDATE}
    assert all(entry.actor == alice for entry in new)
    assert any("role" in entry.changes_dict for entry in new)


def test_it_never_records_password_hashes_in_model_history(client, alice):
    client.force_login(alice)
    client.post("/settings/users/new/", {"username": "jo", "role": "viewer", "password": "a-long-enough-pass-phrase"})
    jo = get_user_model().objects.get(username="jo")
    for entry in LogEntry.objects.filter(content_type__model="user", object_pk=str(jo.pk)):
        assert "password" not in entry.changes_dict
        assert jo.password not in str(entry.changes)


def test_it_audits_token_creation_and_revocation(client, alice):
    client.force_login(alice)
    client.post("/settings/tokens/", {"kind": "ingest", "name": "ci"})
    from opsdash.accounts.models import ApiToken

    token = ApiToken.objects.get()
    client.post(f"/settings/tokens/{token.pk}/revoke/")
    assert actions() == ["login.success", "token.create", "token.revoke"]
