from __future__ import annotations

from django.test import Client

from opsdash.audit.models import AuditEvent
from tests.conftest import PASSWORD


def fail(client: Client, username: str, times: int, ip: str = "10.0.0.1") -> None:
    for _ in range(times):
        client.post("/accounts/login/", {"username": username, "password": "wrong"}, REMOTE_ADDR=ip)


def test_it_locks_a_user_out_after_repeated_failures(client, alice, settings):
    fail(client, "alice", settings.AXES_FAILURE_LIMIT)
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.0.0.9")
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    assert AuditEvent.objects.filter(action="login.failure").count() >= settings.AXES_FAILURE_LIMIT
    assert not AuditEvent.objects.filter(action="login.success").exists()


def test_it_locks_an_address_out_after_failures_on_many_names(client, alice, settings):
    for i in range(settings.AXES_FAILURE_LIMIT):
        fail(client, f"guess{i}", 1, ip="10.9.9.9")
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.9.9.9")
    assert response.status_code == 429
    # Another address is not affected.
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.1.1.1")
    assert response.status_code == 302


def test_it_forgets_failures_after_a_success(client, alice, settings):
    fail(client, "alice", settings.AXES_FAILURE_LIMIT - 1)
    assert (
        client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.0.0.1").status_code
        == 302
    )
    client.logout()
    fail(client, "alice", settings.AXES_FAILURE_LIMIT - 1)
    assert (
        client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.0.0.1").status_code
        == 302
    )


def test_it_records_failed_logins_without_the_password(client, alice):
    fail(client, "alice", 1)
    event = AuditEvent.objects.get(action="login.failure")
    assert event.detail == {"username": "alice"}
    assert "wrong" not in str(event.detail) + str(event.after)
    assert event.ip_address == "10.0.0.1"
