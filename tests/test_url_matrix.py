"""Every URL of opsdash × every persona → the status each must get.

The URL list comes from the resolver, so a new URL without a declared expectation
fails here until someone decides who may reach it.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.conftest import make_user

PERSONAS = ["anonymous", "viewer", "scoped_viewer", "operator", "scoped_operator", "admin"]

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
    "set-password": ("GET", "bad_reset_link", EVERYONE),
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
        return {"uidb64": "MQ", "token": "not-a-token"}
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
    }
    target = make_user("m-target", "viewer", [acme])
    token, _ = create_token(acting_user=None, kind="ingest", name="matrix")
    return {"users": users, "target": target, "token": token}


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_persona_gets_the_declared_status_everywhere(client, world, persona):
    user = world["users"][persona]
    failures = []
    for name in sorted(set(all_url_names()) & set(EXPECTATIONS)):
        method, kind, expected = EXPECTATIONS[name]
        client.logout()
        if user is not None:
            client.force_login(user)
        url = reverse(name, kwargs=kwargs_for(kind, world))
        response = client.post(url) if method == "POST" else client.get(url)
        if response.status_code != expected[persona]:
            failures.append(f"{method} {url}: {response.status_code}, expected {expected[persona]}")
    assert not failures, "\n".join(failures)
