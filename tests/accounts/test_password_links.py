"""Set-password links: single use, expiring, replaced by a newer one, refused for inactive
users, stored only as a hash, audited when issued and when used."""

from __future__ import annotations

import datetime as dt

import time_machine
from django.contrib.auth import get_user_model
from django.utils import timezone

from opsdash.accounts import services
from opsdash.accounts.models import PasswordLink
from opsdash.audit.models import AuditEvent
from tests.conftest import PASSWORD

User = get_user_model()
NEW = {"new_password1": "fresh-and-long-password", "new_password2": "fresh-and-long-password"}


def issue(client, admin, user) -> str:  # type: ignore[no-untyped-def]
    client.force_login(admin)
    response = client.post(f"/settings/users/{user.pk}/password-link/")
    assert response.status_code == 200
    client.logout()
    return response.context["link"].removeprefix("http://testserver")


def test_it_sets_the_password_once(client, alice, carol):
    link = issue(client, alice, carol)
    assert client.post(link, NEW).status_code == 302
    carol.refresh_from_db()
    assert carol.check_password(NEW["new_password1"])
    again = {"new_password1": "another-long-password", "new_password2": "another-long-password"}
    response = client.post(link, again)
    assert response.status_code == 404
    carol.refresh_from_db()
    assert carol.check_password(NEW["new_password1"])


def test_it_expires_after_the_configured_hours(client, alice, carol, settings):
    settings.PASSWORD_LINK_HOURS = 2
    link = issue(client, alice, carol)
    with time_machine.travel(timezone.now() + dt.timedelta(hours=1, minutes=59)):
        assert client.get(link).status_code == 200
    with time_machine.travel(timezone.now() + dt.timedelta(hours=2, minutes=1)):
        assert client.get(link).status_code == 404
        assert client.post(link, NEW).status_code == 404
    carol.refresh_from_db()
    assert carol.check_password(PASSWORD)


def test_it_defaults_to_a_day(alice, carol, rf):
    services.password_link(carol, acting_user=alice, request=rf.post("/"))
    link = PasswordLink.objects.get(user=carol)
    assert dt.timedelta(hours=23, minutes=59) < link.expires_at - link.created_at <= dt.timedelta(hours=24)


def test_it_refuses_a_link_for_an_inactive_user(client, alice, carol):
    services.set_active(carol, acting_user=alice, active=False)
    client.force_login(alice)
    response = client.post(f"/settings/users/{carol.pk}/password-link/", follow=True)
    assert b"reactivate the account before sending a link" in response.content
    assert not PasswordLink.objects.filter(user=carol).exists()


def test_it_stops_a_link_working_once_its_user_is_deactivated(client, alice, carol):
    link = issue(client, alice, carol)
    services.set_active(carol, acting_user=alice, active=False)
    assert client.get(link).status_code == 404
    assert client.post(link, NEW).status_code == 404
    # Reactivating does not revive it: deactivation revoked it.
    services.set_active(carol, acting_user=alice, active=True)
    assert client.get(link).status_code == 404
    carol.refresh_from_db()
    assert carol.check_password(PASSWORD)


def test_it_replaces_an_older_link_with_a_newer_one(client, alice, carol):
    first = issue(client, alice, carol)
    second = issue(client, alice, carol)
    assert client.get(first).status_code == 404
    assert client.post(second, NEW).status_code == 302


def test_it_keeps_only_a_hash_of_the_token(client, alice, carol):
    link = issue(client, alice, carol)
    token = link.rstrip("/").rsplit("/", 1)[1]
    stored = PasswordLink.objects.get(user=carol)
    assert token not in stored.token_hash
    assert len(stored.token_hash) == 64


def test_it_audits_issue_and_use(client, alice, carol):
    link = issue(client, alice, carol)
    issued = AuditEvent.objects.get(action="user.password_link")
    assert issued.actor == alice
    assert issued.object_label == "carol"
    assert "expires_at" in issued.detail
    client.post(link, NEW)
    used = AuditEvent.objects.get(action="user.password_set")
    assert used.actor_label == "carol"
    assert used.object_id == str(carol.pk)


def test_it_refuses_an_unknown_link_without_saying_why(client, db):
    response = client.get("/accounts/set-password/not-a-real-token/")
    assert response.status_code == 404
    assert b"not valid" in response.content
    response = client.post("/accounts/set-password/not-a-real-token/", NEW)
    assert response.status_code == 404


def test_it_ends_the_users_other_sessions_when_the_password_is_set(client, alice, carol):
    from django.test import Client

    carols_old_browser = Client()
    carols_old_browser.force_login(carol)
    link = issue(client, alice, carol)
    client.post(link, NEW)
    assert carols_old_browser.get("/").status_code == 302


def test_it_says_what_is_wrong_with_a_weak_password(client, alice, carol):
    link = issue(client, alice, carol)
    response = client.post(link, {"new_password1": "123", "new_password2": "123"})
    assert response.status_code == 200
    assert b"too short" in response.content
    assert PasswordLink.objects.get(user=carol).used_at is None
