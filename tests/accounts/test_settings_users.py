from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from opsdash.accounts.models import RoleAssignment
from opsdash.audit.models import AuditEvent
from tests.conftest import PASSWORD

User = get_user_model()


def test_it_lists_users_with_role_scope_and_state(client, alice, dave):
    client.force_login(alice)
    response = client.get("/settings/users/")
    body = response.content.decode()
    assert "alice" in body
    assert "dave" in body
    assert "globex" in body  # dave's scope
    assert "all tenants" in body  # alice's scope


def test_it_creates_a_user_with_a_password(client, alice, acme):
    client.force_login(alice)
    response = client.post(
        "/settings/users/new/",
        {"username": "henry", "role": "operator", "tenants": ["acme"], "password": "a-long-enough-pass-phrase"},
    )
    assert response.status_code == 200
    henry = User.objects.get(username="henry")
    assert henry.check_password("a-long-enough-pass-phrase")
    assert henry.role_assignment.role == "operator"
    assert list(henry.role_assignment.tenants.values_list("slug", flat=True)) == ["acme"]
    event = AuditEvent.objects.get(action="user.create")
    assert event.actor == alice
    assert event.after == {"role": "operator", "tenants": ["acme"]}
    assert event.tenant == acme


def test_it_creates_a_user_with_a_one_time_password_link(client, alice):
    client.force_login(alice)
    response = client.post("/settings/users/new/", {"username": "ivan", "role": "viewer"})
    link = response.context["link"]
    assert link.startswith("http://testserver/accounts/set-password/")
    client.logout()
    response = client.get(link)
    assert response.status_code == 200
    response = client.post(
        link, {"new_password1": "fresh-and-long-password", "new_password2": "fresh-and-long-password"}
    )
    assert response.status_code == 302
    assert User.objects.get(username="ivan").check_password("fresh-and-long-password")
    # Used once: the same link no longer works.
    response = client.get(link)
    assert response.status_code == 404
    assert b"not valid" in response.content
    assert AuditEvent.objects.filter(action="user.password_set", object_label="ivan").exists()


def test_it_rejects_a_weak_password(client, alice):
    client.force_login(alice)
    response = client.post("/settings/users/new/", {"username": "weak", "role": "viewer", "password": "12345"})
    assert response.status_code == 200
    assert b"This password is too short" in response.content
    assert not User.objects.filter(username="weak").exists()


def test_it_rejects_a_duplicate_username(client, alice, carol):
    client.force_login(alice)
    response = client.post("/settings/users/new/", {"username": "Carol", "role": "viewer"})
    assert b"already exists" in response.content
    assert User.objects.filter(username__iexact="carol").count() == 1


def test_it_changes_role_and_scope_and_audits_both_sides(client, alice, carol, acme):
    client.force_login(alice)
    response = client.post(f"/settings/users/{carol.pk}/", {"role": "operator", "tenants": ["acme"]})
    assert response.status_code == 302
    assignment = RoleAssignment.objects.get(user=carol)
    assert assignment.role == "operator"
    assert list(assignment.tenants.values_list("slug", flat=True)) == ["acme"]
    event = AuditEvent.objects.get(action="user.role_change")
    assert event.before == {"role": "viewer", "tenants": "all"}
    assert event.after == {"role": "operator", "tenants": ["acme"]}


def test_it_refuses_to_raise_ones_own_role(client, grace, acme):
    client.force_login(grace)
    response = client.post(f"/settings/users/{grace.pk}/", {"role": "admin", "tenants": []})
    assert b"cannot widen your own scope" in response.content
    assert grace.role_assignment.tenants.count() == 1


def test_it_refuses_to_raise_ones_own_role_rank(client, db, acme):
    from tests.conftest import make_user

    scoped_operator_admin = make_user("olga", "operator", [acme])
    client.force_login(scoped_operator_admin)
    response = client.post(f"/settings/users/{scoped_operator_admin.pk}/", {"role": "admin", "tenants": ["acme"]})
    assert response.status_code == 403
    assert RoleAssignment.objects.get(user=scoped_operator_admin).role == "operator"


def test_it_keeps_the_last_admin(client, alice):
    client.force_login(alice)
    response = client.post(f"/settings/users/{alice.pk}/", {"role": "viewer"})
    assert b"last active admin" in response.content
    assert RoleAssignment.objects.get(user=alice).role == "admin"


def test_it_refuses_to_deactivate_the_last_admin(client, alice, grace):
    # grace is an admin but limited to acme, so she cannot stand in for alice.
    from opsdash.accounts import services

    with pytest.raises(services.AccessError, match="last active admin"):
        services.set_active(alice, acting_user=None, active=False)
    alice.refresh_from_db()
    assert alice.is_active


def test_it_lets_an_admin_step_down_when_another_exists(client, alice, db):
    from tests.conftest import make_user

    make_user("zoe", "admin")
    client.force_login(alice)
    response = client.post(f"/settings/users/{alice.pk}/", {"role": "viewer"})
    assert response.status_code == 302
    assert RoleAssignment.objects.get(user=alice).role == "viewer"


def test_it_stops_a_scoped_admin_granting_outside_its_scope(client, grace, globex):
    client.force_login(grace)
    response = client.post("/settings/users/new/", {"username": "mallory", "role": "viewer", "tenants": ["globex"]})
    # globex is not even offered to grace; the form refuses the unknown choice.
    assert b"Select a valid choice" in response.content
    response = client.post("/settings/users/new/", {"username": "mallory", "role": "viewer"})
    assert b"cannot grant access to all tenants" in response.content
    assert not User.objects.filter(username="mallory").exists()


def test_it_hides_wider_users_from_a_scoped_admin(client, grace, alice, dave, frank):
    client.force_login(grace)
    body = client.get("/settings/users/").content.decode()
    assert "frank" in body
    assert "dave" not in body
    assert "alice" not in body
    # Out of reach means not there at all: no hint that the account exists.
    assert client.get(f"/settings/users/{alice.pk}/").status_code == 404


def test_it_deactivates_a_user_and_ends_their_sessions(client, alice, carol):
    from django.test import Client

    carol_browser = Client()
    carol_browser.force_login(carol)
    assert carol_browser.get("/").status_code == 200
    client.force_login(alice)
    response = client.post(f"/settings/users/{carol.pk}/active/", {"active": "0"})
    assert response.status_code == 302
    carol.refresh_from_db()
    assert carol.is_active is False
    assert carol_browser.get("/").status_code == 302  # logged out
    assert AuditEvent.objects.filter(action="user.deactivate", object_label="carol").exists()
    client.post(f"/settings/users/{carol.pk}/active/", {"active": "1"})
    carol.refresh_from_db()
    assert carol.is_active is True


def test_it_issues_a_password_reset_link(client, alice, carol):
    client.force_login(alice)
    response = client.post(f"/settings/users/{carol.pk}/password-link/")
    assert response.status_code == 200
    assert "/accounts/set-password/" in response.context["link"]
    # The old password keeps working until the new one is set.
    assert carol.check_password(PASSWORD)
    assert AuditEvent.objects.filter(action="user.password_link", object_label="carol").exists()


@pytest.mark.parametrize("username", ["bob", "carol"])
def test_it_refuses_user_management_to_non_admins(client, request, username, carol):
    client.force_login(request.getfixturevalue(username))
    assert client.get("/settings/users/").status_code == 403
    assert client.post("/settings/users/new/", {"username": "x", "role": "admin"}).status_code == 403
    assert client.post(f"/settings/users/{carol.pk}/active/", {"active": "0"}).status_code == 403
    carol.refresh_from_db()
    assert carol.is_active


def test_it_requires_csrf_on_user_changes(alice, carol):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(f"/settings/users/{carol.pk}/active/", {"active": "0"}).status_code == 403
    carol.refresh_from_db()
    assert carol.is_active
