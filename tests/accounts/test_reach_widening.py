"""When a user's reach grows, credentials someone else knows stop working: a scoped admin
who chose a password or holds a link must not follow the user into the new reach."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.test import Client

from opsdash.accounts import services
from opsdash.audit.models import AuditEvent

User = get_user_model()
CHOSEN = "grace-chose-this-password"


def logs_in(username: str, password: str) -> bool:
    client = Client()
    client.post("/accounts/login/", {"username": username, "password": password})
    return "_auth_user_id" in client.session


def test_it_stops_a_password_a_scoped_admin_chose_once_the_user_becomes_global(client, grace, alice, acme, rf):
    newbie = services.create_user(
        "newbie", acting_user=grace, role="viewer", password=CHOSEN, tenant_slugs=["acme"], request=rf.post("/")
    )
    assert logs_in("newbie", CHOSEN)
    client.force_login(alice)
    response = client.post(f"/settings/users/{newbie.pk}/", {"role": "admin", "tenants": []}, follow=True)
    assert b"Send them a set-password link" in response.content
    assert not logs_in("newbie", CHOSEN)
    assert AuditEvent.objects.get(action="user.role_change").detail == {"password_reset": True}


def test_it_ends_sessions_and_revokes_links_when_the_reach_grows(grace, alice, frank, acme, globex, rf):
    franks_browser = Client()
    franks_browser.force_login(frank)
    link = services.password_link(frank, acting_user=grace, request=rf.post("/")).removeprefix("http://testserver")
    services.change_role(frank, acting_user=alice, role="operator", tenant_slugs=["acme", "globex"])
    assert franks_browser.get("/").status_code == 302  # logged out
    assert Client().get(link).status_code == 404
    # frank chose his own password (no admin knows it): it keeps working.
    frank.refresh_from_db()
    assert frank.has_usable_password()


def test_it_leaves_credentials_alone_when_the_reach_shrinks_or_stays(grace, alice, acme, globex, rf):
    user = services.create_user(
        "narrowing", acting_user=alice, role="viewer", password=None, tenant_slugs=["acme", "globex"]
    )
    link = services.password_link(user, acting_user=alice, request=rf.post("/")).removeprefix("http://testserver")
    assert services.change_role(user, acting_user=alice, role="operator", tenant_slugs=["acme"]) is False
    assert Client().get(link).status_code == 200


def test_a_link_stops_working_when_its_issuer_can_no_longer_reach_the_user(grace, alice, frank, initech, rf):
    link = services.password_link(frank, acting_user=grace, request=rf.post("/")).removeprefix("http://testserver")
    services.change_role(grace, acting_user=alice, role="admin", tenant_slugs=["initech"])
    assert Client().get(link).status_code == 404


def test_a_link_belongs_to_the_first_browser_that_opens_it(alice, carol, rf):
    link = services.password_link(carol, acting_user=alice, request=rf.post("/")).removeprefix("http://testserver")
    carols = Client()
    assert carols.get(link).status_code == 200
    # Someone who read the link in a log afterwards gets nothing.
    other = Client()
    assert other.get(link).status_code == 404
    new = {"new_password1": "someone-elses-password", "new_password2": "someone-elses-password"}
    assert other.post(link, new).status_code == 404
    mine = {"new_password1": "carols-own-password", "new_password2": "carols-own-password"}
    assert carols.post(link, mine).status_code == 302
    carol.refresh_from_db()
    assert carol.check_password("carols-own-password")


def test_it_refuses_look_alike_usernames(client, alice):
    client.force_login(alice)
    for name in ["аlice", "ａｌｉｃｅ", "zoë"]:  # Cyrillic а, fullwidth letters, a diaeresis
        response = client.post("/settings/users/new/", {"username": name, "role": "viewer"})
        assert response.context["form"].errors["username"], name
        assert not User.objects.filter(username=name).exists()


def test_the_database_refuses_two_names_differing_only_in_case(alice):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(username="ALICE", password="x")
