from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from opsdash.audit.models import AuditEvent
from opsdash.tenants import services
from opsdash.tenants.models import TenantKey
from opsdash.tenants.tasks import revoke_expired_keys

pytestmark = pytest.mark.django_db


def rotate(tenant, user, grace):
    issued = services.new_key_secret()
    return services.rotate_keys(
        tenant, acting_user=user, prefix=issued.prefix, secret_hash=issued.secret_hash, grace_hours=grace
    )


def test_it_revokes_expired_keys_on_schedule(acme, alice):
    services.create_key(acme, acting_user=None)
    rotate(acme, alice, 1)
    assert revoke_expired_keys() == 0
    TenantKey.objects.filter(state="expiring").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert revoke_expired_keys() == 1
    assert TenantKey.objects.filter(state="revoked").count() == 1
    assert TenantKey.objects.filter(state="active").count() == 1
    assert AuditEvent.objects.filter(action="tenant.key_expire").count() == 1


def test_it_keeps_an_earlier_deadline_when_rotating_again(acme, alice):
    services.create_key(acme, acting_user=None, name="original")
    rotate(acme, alice, 1)
    first_deadline = TenantKey.objects.get(name="original").expires_at
    rotate(acme, alice, 48)
    assert TenantKey.objects.get(name="original").expires_at == first_deadline
    assert TenantKey.objects.filter(state="active").count() == 1


def test_it_applies_a_replayed_rotation_once(acme, alice):
    services.create_key(acme, acting_user=None)
    issued = services.new_key_secret()
    for _ in range(2):
        services.rotate_keys(
            acme, acting_user=alice, prefix=issued.prefix, secret_hash=issued.secret_hash, grace_hours=1
        )
    assert TenantKey.objects.count() == 2
    assert AuditEvent.objects.filter(action="tenant.keys_rotate").count() == 1


def test_it_needs_a_reason_to_pause(acme, alice):
    with pytest.raises(services.TenantChangeError, match="reason"):
        services.pause_tenant(acme, acting_user=alice, reason=" ")
    acme.refresh_from_db()
    assert not acme.is_paused


def test_it_refuses_to_revoke_a_key_twice(acme, alice):
    key, _ = services.create_key(acme, acting_user=None)
    services.revoke_key(key, acting_user=alice)
    with pytest.raises(services.TenantChangeError, match="already revoked"):
        services.revoke_key(key, acting_user=alice)
