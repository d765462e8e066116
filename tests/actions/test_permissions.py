from __future__ import annotations

import pytest
from django.urls import reverse

from opsdash.actions.models import ActionRun
from opsdash.tenants import services as tenant_services
from tests.actions.conftest import confirm
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

BUTTONS = ["Pause tenant", "Rotate keys", "Purge conversations", "Re-embed documents"]
KINDS = ["pause_tenant", "resume_tenant", "rotate_keys", "purge_conversations", "reembed_documents"]


@pytest.fixture
def run(acme, bob):
    return ActionRun.objects.create(
        kind="purge_conversations", tenant=acme, requested_by=bob, state="awaiting_approval", idempotency_key="r" * 20
    )


def action_endpoints(run, key):
    """(method, url) of every endpoint that acts on acme."""
    urls = [("POST", reverse("tenant-key-revoke", args=["acme", key.pk]))]
    for kind in KINDS:
        urls += [
            ("GET", reverse("action-new", args=["acme", kind])),
            ("POST", reverse("action-new", args=["acme", kind])),
            ("POST", reverse("action-confirm", args=["acme", kind])),
        ]
    for name in ("action-approve", "action-reject", "action-cancel", "action-retry"):
        urls.append(("POST", reverse(name, args=[run.pk])))
    return urls


def test_it_shows_action_buttons_to_operators_only(client, bob, carol, dave, acme, globex):
    client.force_login(bob)
    page = client.get(reverse("tenant-detail", args=["acme"])).content.decode()
    assert all(label in page for label in BUTTONS)
    for viewer, slug in ((carol, "acme"), (dave, "globex")):
        client.force_login(viewer)
        page = client.get(reverse("tenant-detail", args=[slug])).content.decode()
        assert not any(label in page for label in BUTTONS)
        assert "Revoke" not in page


def test_it_refuses_every_action_endpoint_to_a_viewer(client, carol, run, acme):
    key, _ = tenant_services.create_key(acme, acting_user=None)
    client.force_login(carol)
    statuses = {(m, url): (client.post(url) if m == "POST" else client.get(url)).status_code
                for m, url in action_endpoints(run, key)}  # fmt: skip
    assert set(statuses.values()) == {403}, statuses
    run.refresh_from_db()
    assert run.state == ActionRun.State.AWAITING_APPROVAL


def test_it_hides_every_action_endpoint_from_outsiders(client, acme, globex, run):
    key, _ = tenant_services.create_key(acme, acting_user=None)
    outsider = make_user("oscar", "admin", [globex])
    client.force_login(outsider)
    statuses = {(m, url): (client.post(url) if m == "POST" else client.get(url)).status_code
                for m, url in action_endpoints(run, key)}  # fmt: skip
    assert set(statuses.values()) == {404}, statuses


def test_it_sends_anonymous_people_to_log_in(client, acme, run):
    key, _ = tenant_services.create_key(acme, acting_user=None)
    for method, url in action_endpoints(run, key):
        response = client.post(url) if method == "POST" else client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_it_lets_a_scoped_operator_act_on_their_tenant_only(client, frank, acme, globex):
    client.force_login(frank)
    assert confirm(client, acme, "pause_tenant", {"reason": "x"}).status_code == 302
    assert confirm(client, globex, "pause_tenant", {"reason": "x"}).status_code == 404
    assert ActionRun.objects.get().tenant == acme


def test_it_shows_runs_only_of_tenants_in_scope(client, dave, run):
    client.force_login(dave)
    assert client.get(reverse("action-detail", args=[run.pk])).status_code == 404
    assert client.get(reverse("action-progress", args=[run.pk])).status_code == 404
    assert list(client.get(reverse("actions")).context["page"].object_list) == []
