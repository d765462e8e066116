"""Every audited kind of change writes its AuditEvent: one trail, the chained one."""

from __future__ import annotations

import json

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


def test_it_records_role_changes_in_the_chain_with_the_actor_and_the_change(client, alice, carol, acme):
    client.force_login(alice)
    client.post(f"/settings/users/{carol.pk}/", {"role": "operator", "tenants": ["acme"]})
    change = AuditEvent.objects.get(action="user.role_change")
    assert change.actor == alice
    assert change.object_id == str(carol.pk)
    assert change.before["role"] == "viewer"
    assert change.after == {"role": "operator", "tenants": ["acme"]}


def test_it_never_records_password_hashes_in_the_trail(client, alice):
    client.force_login(alice)
    client.post("/settings/users/new/", {"username": "jo", "role": "viewer", "password": "a-long-enough-pass-phrase"})
    jo = get_user_model().objects.get(username="jo")
    assert AuditEvent.objects.filter(action="user.create", object_id=str(jo.pk)).exists()
    for event in AuditEvent.objects.all():
        recorded = json.dumps([event.before, event.after, event.detail])
        assert jo.password not in recorded
        assert "a-long-enough-pass-phrase" not in recorded


def test_it_audits_token_creation_and_revocation(client, alice):
    client.force_login(alice)
    client.post("/settings/tokens/", {"kind": "ingest", "name": "ci"})
    from opsdash.accounts.models import ApiToken

    token = ApiToken.objects.get()
    client.post(f"/settings/tokens/{token.pk}/revoke/")
    assert actions() == ["login.success", "token.create", "token.revoke"]
