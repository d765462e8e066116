"""Every page in the navigation answers a logged-in user and sends anonymous ones to log in."""

from __future__ import annotations

import pytest
from django.urls import reverse

from opsdash.context_processors import NAVIGATION, SETTINGS_NAVIGATION

PAGES = [name for name, _ in NAVIGATION]
ADMIN_PAGES = [name for name, _ in SETTINGS_NAVIGATION]


@pytest.mark.parametrize("name", PAGES + ADMIN_PAGES)
def test_it_redirects_anonymous_users_to_login(client, db, name):
    url = reverse(name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("name", PAGES + ADMIN_PAGES)
def test_it_shows_every_page_to_an_admin(client, alice, acme, name):
    client.force_login(alice)
    response = client.get(reverse(name))
    assert response.status_code == 200
    # Each page names itself in a heading and shows the navigation.
    assert b"<h1>" in response.content
    assert b'aria-current="page"' in response.content


@pytest.mark.parametrize("name", PAGES)
def test_it_shows_dashboards_to_a_viewer(client, carol, name):
    client.force_login(carol)
    assert client.get(reverse(name)).status_code == 200


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_it_keeps_settings_from_non_admins(client, bob, carol, name):
    for user in (bob, carol):
        client.force_login(user)
        assert client.get(reverse(name)).status_code == 403


def test_it_shows_an_empty_state_without_data(client, alice):
    client.force_login(alice)
    response = client.get(reverse("overview"))
    assert b"No requests in this range" in response.content
    assert b"seed_demo" in response.content


def test_it_shows_a_tenant_and_its_key_prefixes(client, carol, acme):
    from opsdash.lib.hashing import issue_secret
    from opsdash.tenants.models import TenantKey

    issued = issue_secret("odk")
    TenantKey.objects.create(tenant=acme, prefix=issued.prefix, secret_hash=issued.secret_hash)
    client.force_login(carol)
    response = client.get(reverse("tenant-detail", args=["acme"]))
    assert response.status_code == 200
    assert issued.prefix.encode() in response.content
    assert issued.secret.encode() not in response.content
    assert issued.secret_hash.encode() not in response.content


def test_it_answers_404_for_an_unknown_tenant(client, carol):
    client.force_login(carol)
    assert client.get("/tenants/nope/").status_code == 404
