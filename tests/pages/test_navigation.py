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


# --- The navigation carries the range and tenant; links never offer another tenant ------------

HTMX = {"HX-Request": "true", "HX-Target": "panels"}


def nav_links(body: str) -> dict[str, str]:
    """Main navigation: label → href (unescaped)."""
    import html
    import re

    nav = body[body.index('<nav class="mainnav"') : body.index("</nav>", body.index('<nav class="mainnav"'))]
    return {label: html.unescape(href) for href, label in re.findall(r'<a href="([^"]*)"[^>]*>([^<]+)</a>', nav)}


def test_it_carries_the_chosen_range_and_tenant_across_the_navigation(client, alice, acme):
    client.force_login(alice)
    links = nav_links(client.get("/latency/?range=7d&tenant=acme&by=model&route=/chat").content.decode())
    for label, path in [("Overview", "/"), ("Latency", "/latency/"), ("Cost", "/cost/"), ("Evals", "/evals/"),
                        ("Safety", "/safety/")]:  # fmt: skip
        # The range and tenant follow; the narrowing filter and the breakdown belong to this page.
        assert links[label] == f"{path}?range=7d&tenant=acme", label
    assert links["Alerts"] == "/alerts/?tenant=acme"
    assert links["Tenants"] == "/tenants/"
    # A custom range travels with its bounds; with no range chosen, each page keeps its default.
    custom = nav_links(client.get("/cost/?range=custom&from=2026-11-10T00:00&to=2026-11-12T00:00").content.decode())
    assert custom["Latency"] == "/latency/?range=custom&from=2026-11-10T00:00&to=2026-11-12T00:00"
    bare = nav_links(client.get("/safety/?tenant=acme").content.decode())
    assert bare["Evals"] == "/evals/?tenant=acme"
    # Every carried link answers.
    for href in links.values():
        assert client.get(href).status_code == 200, href


def test_it_sends_the_navigation_and_the_filter_bar_with_the_panels(client, alice, acme, globex):
    client.force_login(alice)
    body = client.get("/safety/?range=7d&tenant=globex&kind=pii", headers=HTMX).content.decode()
    assert body.lstrip().startswith('<div id="panels"')
    # Out of band, so a row link (which does not go through the form) still updates both.
    bar = body[body.index('<form method="get" class="filters" id="filters"') :]
    assert 'hx-swap-oob="true"' in bar[: bar.index(">")]
    assert '<option value="globex" selected>' in bar
    assert '<option value="7d" selected>' in bar
    assert '<input type="hidden" name="kind" value="pii">' in bar
    assert 'id="mainnav" aria-label="Main" hx-swap-oob="true"' in body
    assert nav_links(body)["Latency"] == "/latency/?range=7d&tenant=globex"


def test_it_never_offers_a_scoped_viewer_another_tenant(client, dave, acme, globex):
    import html
    import re

    client.force_login(dave)  # a viewer of globex only
    for url in ("/", "/latency/", "/cost/", "/evals/", "/safety/", "/tenants/", "/alerts/", "/tenants/globex/",
                "/latency/?tenant=globex&range=7d"):  # fmt: skip
        body = client.get(url).content.decode()
        assert "acme" not in body, url
        links = [html.unescape(h) for h in re.findall(r'(?:href|hx-get)="([^"]*)"', body)]
        assert all("tenant=acme" not in link and "/tenants/acme/" not in link for link in links), url
    # Nor can the query string make the navigation carry it: another tenant is a 404.
    assert client.get("/latency/?tenant=acme").status_code == 404


def test_it_offers_only_the_settings_pages_the_user_may_open(client, alice, bob, carol):
    import re

    for user, expected in ((alice, {"Users", "Tokens", "SLOs", "Budgets", "Channels"}), (bob, set()), (carol, set())):
        client.force_login(user)
        body = client.get("/").content.decode()
        menu = body[body.index('class="usermenu-panel"') : body.index("</form>", body.index('class="usermenu-panel"'))]
        offered = set(re.findall(r'<a href="[^"]*"[^>]*>([^<]+)</a>', menu))
        assert offered == expected, user
        for href in re.findall(r'<a href="([^"]*)"', menu):
            assert client.get(href).status_code == 200, href


def test_it_opens_a_flagged_conversation_whose_messages_are_not_kept(client, carol, acme):
    from django.utils import timezone

    from opsdash.safety.models import SafetyFlag

    # /safety/ links each flag to its conversation, stored or not (purged, or never sent).
    SafetyFlag.objects.create(tenant=acme, ts=timezone.now(), event_id="e1", conversation_id="cv-gone",
                              kind="jailbreak", severity="high", excerpt="ignore previous instructions")  # fmt: skip
    client.force_login(carol)
    response = client.get("/tenants/acme/conversations/cv-gone/")
    assert response.status_code == 200
    assert b"cv-gone" in response.content
    assert b"jailbreak" in response.content
    assert b"No messages are kept for this conversation" in response.content
    # A conversation nothing knows of is still a 404.
    assert client.get("/tenants/acme/conversations/cv-never/").status_code == 404
