"""Every URL of opsdash × every persona → the status each must get.

The URL list comes from the resolver, so a new URL without a declared expectation
fails here until someone decides who may reach it.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.conftest import make_user

PERSONAS = ["anonymous", "viewer", "scoped_viewer", "operator", "scoped_operator", "admin"]
# The awkward ones, each compared with the persona it must behave like.
EXTRA = ["scoped_admin", "no_role", "superuser", "inactive_admin"]

ANON_LOGIN = 302  # login_required sends anonymous people to the login page
PAGE = {"anonymous": ANON_LOGIN, "viewer": 200, "scoped_viewer": 200, "operator": 200, "scoped_operator": 200,
        "admin": 200}  # fmt: skip
ADMIN_PAGE = {**{p: 403 for p in PERSONAS}, "anonymous": ANON_LOGIN, "admin": 200}
ADMIN_POST_REDIRECT = {**ADMIN_PAGE, "admin": 302}
EVERYONE = dict.fromkeys(PERSONAS, 200)
MACHINE_ONLY = dict.fromkeys(PERSONAS, 401)  # bearer-token APIs ignore sessions

# name → (method, kwargs builder, expected status per persona)
EXPECTATIONS: dict[str, tuple[str, str, dict[str, int]]] = {
    "favicon": ("GET", "", dict.fromkeys(PERSONAS, 301)),  # to the static icon, for anyone
    "healthz": ("GET", "", EVERYONE),
    "metrics": ("GET", "", EVERYONE),
    "login": ("GET", "", {**dict.fromkeys(PERSONAS, 302), "anonymous": 200}),
    "logout": ("POST", "", dict.fromkeys(PERSONAS, 302)),
    "set-password": ("GET", "bad_reset_link", dict.fromkeys(PERSONAS, 404)),
    "overview": ("GET", "", PAGE),
    "latency": ("GET", "", PAGE),
    "cost": ("GET", "", PAGE),
    "evals": ("GET", "", PAGE),
    "evals-compare": ("GET", "", PAGE),
    "safety": ("GET", "", PAGE),
    "tenants": ("GET", "", PAGE),
    "tenant-detail": ("GET", "acme", {**PAGE, "scoped_viewer": 404}),
    "actions": ("GET", "", PAGE),
    "action-detail": ("GET", "missing_run", {**dict.fromkeys(PERSONAS, 404), "anonymous": ANON_LOGIN}),
    "cost-export": ("GET", "", PAGE),
    "eval-run": ("GET", "missing_run_id", {**dict.fromkeys(PERSONAS, 404), "anonymous": ANON_LOGIN}),
    "conversation": ("GET", "acme_missing_conversation", {**dict.fromkeys(PERSONAS, 404), "anonymous": ANON_LOGIN}),
    "action-progress": ("GET", "missing_run", {**dict.fromkeys(PERSONAS, 404), "anonymous": ANON_LOGIN}),
    "action-approve": ("POST", "missing_run", {**dict.fromkeys(PERSONAS, 404), "anonymous": ANON_LOGIN}),
    "action-reject": ("POST", "missing_run", {**dict.fromkeys(PERSONAS, 404), "anonymous": ANON_LOGIN}),
    "action-cancel": ("POST", "missing_run", {**dict.fromkeys(PERSONAS, 404), "anonymous": ANON_LOGIN}),
    "action-retry": ("POST", "missing_run", {**dict.fromkeys(PERSONAS, 404), "anonymous": ANON_LOGIN}),
    "action-new": ("GET", "acme_pause", {**PAGE, "viewer": 403, "scoped_viewer": 404}),
    # An empty confirmation is bad input for those allowed to send one.
    "action-confirm": (
        "POST",
        "acme_pause",
        {
            "anonymous": ANON_LOGIN,
            "viewer": 403,
            "scoped_viewer": 404,
            "operator": 400,
            "scoped_operator": 400,
            "admin": 400,
        },
    ),
    "tenant-key-revoke": (
        "POST",
        "missing_key",
        {**dict.fromkeys(PERSONAS, 404), "anonymous": ANON_LOGIN, "viewer": 403},
    ),
    "api-keys-verify": ("POST", "", MACHINE_ONLY),
    "api-tenant": ("GET", "acme", MACHINE_ONLY),
    "audit": ("GET", "", PAGE),
    "audit-export": ("GET", "", PAGE),
    "settings-users": ("GET", "", ADMIN_PAGE),
    "user-create": ("GET", "", ADMIN_PAGE),
    "user-edit": ("GET", "target_user", ADMIN_PAGE),
    "user-set-active": ("POST", "target_user", ADMIN_POST_REDIRECT),
    "user-password-link": ("POST", "target_user", ADMIN_PAGE),
    "settings-tokens": ("GET", "", ADMIN_PAGE),
    "token-revoke": ("POST", "token", ADMIN_POST_REDIRECT),
    "otlp-traces": ("POST", "", MACHINE_ONLY),
    "api-events": ("POST", "", MACHINE_ONLY),
    "api-evals": ("POST", "", MACHINE_ONLY),
    "alerts": ("GET", "", PAGE),
    "alert-acknowledge": ("POST", "missing_alert", {**dict.fromkeys(PERSONAS, 404), "anonymous": ANON_LOGIN}),
    "settings-slos": ("GET", "", ADMIN_PAGE),
    "settings-slo-new": ("GET", "", ADMIN_PAGE),
    "settings-slo-edit": ("GET", "missing_slo", {**ADMIN_PAGE, "admin": 404}),
    "settings-slo-enabled": ("POST", "missing_slo", {**ADMIN_PAGE, "admin": 404}),
    "settings-budgets": ("GET", "", ADMIN_PAGE),
    # An empty form is valid (no budgets, no hard stop): the admin is sent back to the table.
    "settings-budget-update": ("POST", "acme", ADMIN_POST_REDIRECT),
    "api-eval-gate": ("GET", "", MACHINE_ONLY),
    # Notification channels carry every tenant's alerts: global admins only.
    "settings-channels": ("GET", "", ADMIN_PAGE),
    "channel-create": ("GET", "", ADMIN_PAGE),
    "channel-detail": ("GET", "missing_channel", {**ADMIN_PAGE, "admin": 404}),
    "channel-deliveries": ("GET", "missing_channel", {**ADMIN_PAGE, "admin": 404}),
    "channel-edit": ("GET", "missing_channel", {**ADMIN_PAGE, "admin": 404}),
    "channel-set-enabled": ("POST", "missing_channel", {**ADMIN_PAGE, "admin": 404}),
    "channel-rotate-secret": ("POST", "missing_channel", {**ADMIN_PAGE, "admin": 404}),
    "channel-send-test": ("POST", "missing_channel", {**ADMIN_PAGE, "admin": 404}),
    "channel-delete": ("POST", "missing_channel", {**ADMIN_PAGE, "admin": 404}),
}


# The awkward personas, derived so that each is declared for every URL as well:
# - an inactive user (here a deactivated global admin) is nobody: exactly as anonymous;
# - a superuser without an opsdash role is exactly a user with no role (is_superuser grants
#   nothing);
# - a user with no role gets 403 from pages and 404 where the object is looked up first;
# - an admin limited to globex is an admin, except on acme's objects (404, including the
#   user of acme that user-management pages are asked about) and on what only a global
#   admin manages (tokens, channels: 403).
NO_ROLE_NOT_FOUND = {
    "action-approve", "action-cancel", "action-confirm", "action-new", "action-reject", "action-retry",
    "alert-acknowledge", "tenant-key-revoke",
}  # fmt: skip
SAME_FOR_EVERY_USER = {"favicon", "healthz", "metrics", "login", "logout", "set-password"}
SCOPED_ADMIN_OVERRIDES = {
    "tenant-detail": 404, "action-new": 404, "action-confirm": 404, "settings-budget-update": 404,
    "user-edit": 404, "user-set-active": 404, "user-password-link": 404,
    "settings-tokens": 403, "token-revoke": 403, "settings-channels": 403, "channel-create": 403,
    "channel-detail": 403, "channel-deliveries": 403, "channel-edit": 403, "channel-set-enabled": 403,
    "channel-rotate-secret": 403, "channel-send-test": 403, "channel-delete": 403,
}  # fmt: skip


def expected_status(name: str, persona: str) -> int:
    declared = EXPECTATIONS[name][2]
    if persona in declared:
        return declared[persona]
    if persona == "inactive_admin":
        return declared["anonymous"]
    if persona in ("no_role", "superuser"):
        if name in SAME_FOR_EVERY_USER or declared["viewer"] == 401:
            return declared["viewer"]
        return 404 if name in NO_ROLE_NOT_FOUND else 403
    if persona == "scoped_admin":
        return SCOPED_ADMIN_OVERRIDES.get(name, declared["admin"])
    raise AssertionError(persona)


def all_url_names(patterns: list[Any] | None = None, namespace: str = "") -> list[str]:
    names = []
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            prefix = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            names.extend(all_url_names(entry.url_patterns, prefix))
        elif isinstance(entry, URLPattern):
            names.append(f"{namespace}{entry.name}" if entry.name else f"<unnamed {entry.pattern}>")
    return names


def test_every_url_declares_who_may_reach_it():
    undeclared = sorted(set(all_url_names()) - set(EXPECTATIONS))
    assert not undeclared, f"declare the expected status per persona for: {undeclared}"


def test_no_declaration_is_stale():
    assert not sorted(set(EXPECTATIONS) - set(all_url_names()))


def kwargs_for(kind: str, fixtures: dict[str, Any]) -> dict[str, Any]:
    if kind == "":
        return {}
    if kind == "acme":
        return {"slug": "acme"}
    if kind == "acme_pause":
        return {"slug": "acme", "kind": "pause_tenant"}
    if kind == "missing_key":
        return {"slug": "acme", "key_id": 999999}
    if kind == "missing_run":
        return {"run_id": 999999}
    if kind == "missing_alert":
        return {"alert_id": 999999}
    if kind == "missing_slo":
        return {"slo_id": 999999}
    if kind == "missing_channel":
        return {"channel_id": 999999}
    if kind == "missing_run_id":
        return {"run_id": "no-such-run"}
    if kind == "acme_missing_conversation":
        return {"slug": "acme", "conversation_id": "no-such-conversation"}
    if kind == "target_user":
        return {"user_id": fixtures["target"].pk}
    if kind == "token":
        return {"token_id": fixtures["token"].pk}
    if kind == "bad_reset_link":
        return {"token": "not-a-token"}
    raise AssertionError(kind)


@pytest.fixture
def world(db, acme, globex):
    from opsdash.accounts.services import create_token

    users = {
        "anonymous": None,
        "viewer": make_user("m-viewer", "viewer"),
        "scoped_viewer": make_user("m-scoped-viewer", "viewer", [globex]),
        "operator": make_user("m-operator", "operator"),
        "scoped_operator": make_user("m-scoped-operator", "operator", [acme]),
        "admin": make_user("m-admin", "admin"),
        "scoped_admin": make_user("m-scoped-admin", "admin", [globex]),
        "no_role": make_user("m-no-role", None),
        "superuser": make_user("m-superuser", None),
        "inactive_admin": make_user("m-inactive-admin", "admin"),
    }
    get_user_model().objects.filter(pk=users["superuser"].pk).update(is_superuser=True, is_staff=True)
    get_user_model().objects.filter(pk=users["inactive_admin"].pk).update(is_active=False)
    for key in ("superuser", "inactive_admin"):
        users[key].refresh_from_db()
    target = make_user("m-target", "viewer", [acme])
    token, _ = create_token(acting_user=None, kind="ingest", name="matrix")
    return {"users": users, "target": target, "token": token}


@pytest.mark.parametrize("persona", PERSONAS + EXTRA)
def test_each_persona_gets_the_declared_status_everywhere(client, world, persona):
    user = world["users"][persona]
    failures = []
    for name in sorted(set(all_url_names()) & set(EXPECTATIONS)):
        method, kind, _ = EXPECTATIONS[name]
        client.logout()
        if user is not None:
            client.force_login(user)
        url = reverse(name, kwargs=kwargs_for(kind, world))
        response = client.post(url) if method == "POST" else client.get(url)
        if response.status_code != expected_status(name, persona):
            failures.append(f"{method} {url}: {response.status_code}, expected {expected_status(name, persona)}")
    assert not failures, "\n".join(failures)
