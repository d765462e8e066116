"""A scoped admin manages only users whose every scope, now or ever, lies within its own.

grace is an admin limited to acme. Each target below is out of her reach; every
user-management endpoint answers 404 for it and changes nothing in the database."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from opsdash.accounts import access, services
from opsdash.accounts.models import PasswordLink, RoleAssignment, ScopeHistory
from opsdash.audit.models import AuditEvent
from tests.conftest import PASSWORD, make_user

User = get_user_model()

TARGETS = [
    "inactive_user_of_globex",
    "inactive_global_admin",
    "user_with_no_role",
    "inactive_user_with_no_role",
    "superuser_with_no_role",
    "superuser_scoped_to_acme",
    "moved_from_globex_to_acme",
    "acme_and_globex_viewer",
    "once_global_now_acme",
]


def build_target(kind: str, acme, globex, alice):  # type: ignore[no-untyped-def]
    if kind == "inactive_user_of_globex":
        user = make_user("t-globex", "operator", [globex])
        services.set_active(user, acting_user=alice, active=False)
    elif kind == "inactive_global_admin":
        user = make_user("t-root", "admin")
        services.set_active(user, acting_user=alice, active=False)
    elif kind == "user_with_no_role":
        user = make_user("t-norole", None)
    elif kind == "inactive_user_with_no_role":
        user = make_user("t-norole-off", None)
        User.objects.filter(pk=user.pk).update(is_active=False)
    elif kind == "superuser_with_no_role":
        user = make_user("t-super", None)
        User.objects.filter(pk=user.pk).update(is_superuser=True, is_staff=True)
    elif kind == "superuser_scoped_to_acme":
        user = make_user("t-super-acme", "viewer", [acme])
        User.objects.filter(pk=user.pk).update(is_superuser=True, is_staff=True)
    elif kind == "moved_from_globex_to_acme":
        # The global admin moves a globex user into acme: its past scope still counts.
        user = services.create_user("t-moved", acting_user=alice, role="viewer", password=None, tenant_slugs=["globex"])
        services.change_role(user, acting_user=alice, role="viewer", tenant_slugs=["acme"])
    elif kind == "acme_and_globex_viewer":
        user = make_user("t-both", "viewer", [acme, globex])
    elif kind == "once_global_now_acme":
        user = services.create_user("t-was-global", acting_user=alice, role="admin", password=None)
        services.change_role(user, acting_user=alice, role="viewer", tenant_slugs=["acme"])
    else:
        raise AssertionError(kind)
    return User.objects.get(pk=user.pk)


def snapshot() -> list[object]:
    """Everything user management can change."""
    return [
        list(User.objects.order_by("pk").values_list("pk", "username", "is_active", "password", "is_superuser")),
        list(RoleAssignment.objects.order_by("pk").values_list("user_id", "role")),
        sorted(RoleAssignment.tenants.through.objects.values_list("roleassignment_id", "tenant_id")),
        list(PasswordLink.objects.order_by("pk").values_list("pk", "used_at", "revoked_at")),
        sorted(ScopeHistory.objects.values_list("user_id", "tenant_id"), key=str),
    ]


def endpoint_calls(client, target):  # type: ignore[no-untyped-def]
    base = f"/settings/users/{target.pk}/"
    return [
        ("GET edit", client.get(base)),
        ("POST edit", client.post(base, {"role": "viewer", "tenants": ["acme"]})),
        ("POST reactivate", client.post(f"{base}active/", {"active": "1"})),
        ("POST deactivate", client.post(f"{base}active/", {"active": "0"})),
        ("POST password link", client.post(f"{base}password-link/")),
    ]


@pytest.mark.parametrize("kind", TARGETS)
def test_it_keeps_users_beyond_a_scoped_admins_reach_out_of_it(client, grace, alice, acme, globex, kind):
    target = build_target(kind, acme, globex, alice)
    client.force_login(grace)
    before = snapshot()
    statuses = {name: response.status_code for name, response in endpoint_calls(client, target)}
    assert statuses == dict.fromkeys(statuses, 404)
    assert snapshot() == before
    assert target.username not in client.get("/settings/users/").content.decode()
    assert not AuditEvent.objects.filter(actor=grace, object_id=str(target.pk)).exists()


@pytest.mark.parametrize("kind", TARGETS)
def test_it_keeps_them_out_of_reach_of_the_services_too(grace, alice, acme, globex, rf, kind):
    target = build_target(kind, acme, globex, alice)
    request = rf.post("/")
    before = snapshot()
    with pytest.raises(services.AccessError):
        services.change_role(target, acting_user=grace, role="viewer", tenant_slugs=["acme"], request=request)
    with pytest.raises(services.AccessError):
        services.set_active(target, acting_user=grace, active=not target.is_active, request=request)
    with pytest.raises(services.AccessError):
        services.password_link(target, acting_user=grace, request=request)
    assert snapshot() == before


def test_it_lets_a_scoped_admin_manage_users_entirely_within_its_tenants(client, grace, frank, acme):
    client.force_login(grace)
    assert client.get(f"/settings/users/{frank.pk}/").status_code == 200
    response = client.post(f"/settings/users/{frank.pk}/active/", {"active": "0"})
    assert response.status_code == 302
    frank.refresh_from_db()
    assert not frank.is_active
    # Still hers once deactivated: everything frank ever had is acme.
    assert client.post(f"/settings/users/{frank.pk}/active/", {"active": "1"}).status_code == 302
    frank.refresh_from_db()
    assert frank.is_active


def test_it_lets_a_global_admin_manage_everyone(client, alice, acme, globex):
    for kind in TARGETS:
        target = build_target(kind, acme, globex, alice)
        assert access.may_manage_user(alice, target), kind


def test_it_gives_a_superuser_without_a_role_nothing(client, db):
    root = make_user("root", None)
    User.objects.filter(pk=root.pk).update(is_superuser=True, is_staff=True)
    root.refresh_from_db()
    assert root.has_perm("accounts.manage_users")  # Django's own answer...
    assert not access.has_perm(root, "accounts.manage_users")  # ...is not opsdash's
    client.force_login(root)
    assert client.get("/settings/users/").status_code == 403
    assert client.get("/settings/tokens/").status_code == 403
    assert client.get("/").status_code == 403


def test_it_remembers_a_scope_set_outside_the_services_when_it_changes(grace, alice, acme, globex):
    # Made directly (as by an old version): the history learns of globex when alice moves it.
    user = make_user("t-direct", "viewer", [globex])
    services.change_role(user, acting_user=alice, role="viewer", tenant_slugs=["acme"])
    assert set(ScopeHistory.objects.filter(user=user).values_list("tenant__slug", flat=True)) == {"acme", "globex"}
    assert not access.may_manage_user(grace, user)


def test_it_refuses_usernames_with_markup_or_formulas(client, alice):
    client.force_login(alice)
    for bad in ["<b>x</b>", "=cmd()", "+1", "-x", "@sum", "a b"]:
        response = client.post("/settings/users/new/", {"username": bad, "role": "viewer"})
        assert response.status_code == 200, bad
        assert response.context["form"].errors["username"], bad
        assert not User.objects.filter(username=bad).exists()
    response = client.post("/settings/users/new/", {"username": "ok.name-1@x", "role": "viewer"})
    assert User.objects.filter(username="ok.name-1@x").exists()


def test_it_refuses_bad_usernames_on_the_command_line(db):
    from io import StringIO

    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="username"):
        call_command("create_user", "<script>", "--role", "viewer", stdout=StringIO(), stderr=StringIO())
    assert not User.objects.filter(username="<script>").exists()


def test_it_leaves_a_deactivated_admin_unable_to_log_in_after_a_refused_takeover(client, grace, alice, acme, globex):
    target = build_target("inactive_global_admin", acme, globex, alice)
    client.force_login(grace)
    client.post(f"/settings/users/{target.pk}/active/", {"active": "1"})
    client.logout()
    response = client.post("/accounts/login/", {"username": target.username, "password": PASSWORD})
    assert response.status_code == 200  # the form again, not a redirect into opsdash
    assert "_auth_user_id" not in client.session
