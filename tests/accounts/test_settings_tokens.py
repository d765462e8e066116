from __future__ import annotations

from opsdash.accounts.models import ApiToken
from opsdash.audit.models import AuditEvent
from opsdash.lib.hashing import hash_secret


def test_it_creates_a_token_and_shows_the_secret_once(client, alice):
    client.force_login(alice)
    response = client.post("/settings/tokens/", {"kind": "ingest", "name": "gateway eu"})
    secret = response.context["new_secret"]
    token = ApiToken.objects.get(name="gateway eu")
    assert secret.encode() in response.content
    assert response["Cache-Control"] == "no-store"
    assert token.secret_hash == hash_secret(secret)
    assert secret not in str(ApiToken.objects.values_list()[0])
    assert secret.encode() not in client.get("/settings/tokens/").content
    assert AuditEvent.objects.filter(action="token.create", actor=alice).exists()


def test_it_requires_a_name(client, alice):
    client.force_login(alice)
    response = client.post("/settings/tokens/", {"kind": "ingest", "name": ""})
    assert b"This field is required" in response.content
    assert not ApiToken.objects.exists()


def test_it_revokes_a_token(client, alice):
    from opsdash.accounts.services import create_token

    token, _ = create_token(acting_user=alice, kind="gateway", name="edge")
    client.force_login(alice)
    response = client.post(f"/settings/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(action="token.revoke", object_id=str(token.pk)).exists()


def test_it_keeps_tokens_from_scoped_admins_and_operators(client, grace, bob):
    for user in (grace, bob):
        client.force_login(user)
        assert client.get("/settings/tokens/").status_code == 403
        assert client.post("/settings/tokens/", {"kind": "ingest", "name": "x"}).status_code == 403
    assert not ApiToken.objects.exists()


def test_the_command_prints_the_secret_once(db, capsys):
    from django.core.management import call_command

    call_command("create_token", kind="ingest", name="ci evals")
    out, err = capsys.readouterr()
    secret = out.strip()
    token = ApiToken.objects.get(name="ci evals")
    assert token.secret_hash == hash_secret(secret)
    assert "shown only now" in err
