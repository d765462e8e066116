from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from opsdash.accounts.services import create_token
from opsdash.tenants import services as tenant_services
from opsdash.tenants.models import TenantKey
from tests.actions.conftest import confirm

pytestmark = pytest.mark.django_db


@pytest.fixture
def gateway(db):
    _, secret = create_token(acting_user=None, kind="gateway", name="gateway")
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def verify(client, gateway, key):
    response = client.post(
        reverse("api-keys-verify"), json.dumps({"key": key}), content_type="application/json", **gateway
    )
    assert response.status_code == 200
    return response.json()


def test_it_shows_the_new_key_once_and_the_gateway_accepts_it(
    client, bob, acme, gateway, django_capture_on_commit_callbacks
):
    _, old_secret = tenant_services.create_key(acme, acting_user=None, name="first")
    client.force_login(bob)
    response = confirm(client, acme, "rotate_keys", {"grace_hours": 24, "name": "second"},
                       capture=django_capture_on_commit_callbacks)  # fmt: skip
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret = response.context["new_secret"]
    assert secret.startswith("odk_")
    assert secret.encode() in response.content
    # Not on the run's page afterwards, nor anywhere in the run's row.
    run = response.context["run"]
    assert secret.encode() not in client.get(reverse("action-detail", args=[run.pk])).content
    run.refresh_from_db()
    assert secret not in json.dumps([run.parameters, run.internal, run.result, run.preview])

    new = verify(client, gateway, secret)
    assert new["valid"] is True
    assert new["key_state"] == "active"
    old = verify(client, gateway, old_secret)
    assert old["valid"] is True
    assert old["key_state"] == "expiring"
    deadline = TenantKey.objects.get(name="first").expires_at
    assert timezone.now() + timedelta(hours=23) < deadline <= timezone.now() + timedelta(hours=24)
    assert old["expires_at"] == deadline.isoformat()

    with time_machine.travel(deadline + timedelta(seconds=1)):
        assert verify(client, gateway, old_secret) == {**old, "valid": False, "reason": "key_expired"}
        assert tenant_services.revoke_expired_keys() == 1
        assert verify(client, gateway, old_secret)["reason"] == "key_revoked"
        assert verify(client, gateway, secret)["valid"] is True


def test_it_revokes_the_old_keys_at_once_with_no_grace(client, bob, acme, gateway, django_capture_on_commit_callbacks):
    _, old_secret = tenant_services.create_key(acme, acting_user=None)
    client.force_login(bob)
    confirm(client, acme, "rotate_keys", {"grace_hours": 0}, capture=django_capture_on_commit_callbacks)
    answer = verify(client, gateway, old_secret)
    assert answer["valid"] is False
    assert answer["reason"] == "key_revoked"


def test_it_previews_what_happens_to_the_current_keys(client, bob, acme):
    tenant_services.create_key(acme, acting_user=None)
    tenant_services.create_key(acme, acting_user=None)
    client.force_login(bob)
    response = client.post(reverse("action-new", args=["acme", "rotate_keys"]), {"grace_hours": 6})
    assert b"creates a new key for tenant acme; its 2 current keys keep working for 6 h" in response.content


def test_it_refuses_a_negative_grace_period(client, bob, acme):
    client.force_login(bob)
    response = client.post(reverse("action-new", args=["acme", "rotate_keys"]), {"grace_hours": -1})
    assert response.status_code == 400
    assert b"greater than or equal to 0" in response.content


def test_it_revokes_a_single_key(client, bob, acme, gateway):
    key, secret = tenant_services.create_key(acme, acting_user=None)
    client.force_login(bob)
    response = client.post(reverse("tenant-key-revoke", args=["acme", key.pk]))
    assert response.status_code == 302
    assert verify(client, gateway, secret)["reason"] == "key_revoked"
    page = client.get(reverse("tenant-detail", args=["acme"])).content.decode()
    assert "Revoked the key" in page


def test_it_does_not_revoke_a_key_of_another_tenant_through_this_one(client, bob, acme, globex):
    key, _ = tenant_services.create_key(globex, acting_user=None)
    client.force_login(bob)
    assert client.post(reverse("tenant-key-revoke", args=["acme", key.pk])).status_code == 404
    key.refresh_from_db()
    assert key.state == TenantKey.State.ACTIVE
