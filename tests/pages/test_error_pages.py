"""A refused or missing page is an opsdash page: navigation, the icon, a way back, and
nothing that tells an outsider what lies behind the address."""

from __future__ import annotations

from django.template.loader import render_to_string


def test_it_shows_a_404_with_the_navigation_and_a_way_back(client, dave, acme):
    client.force_login(dave)
    response = client.get("/tenants/acme/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "<h1>Not found</h1>" in body
    assert 'aria-label="Main"' in body
    assert 'rel="icon"' in body
    assert "/tenants/acme/" in body
    # Scoped out and non-existent look the same: the name of the tenant is not given away.
    assert "Acme Corp" not in body


def test_it_shows_a_403_that_says_what_was_refused(client, carol):
    client.force_login(carol)
    response = client.get("/settings/users/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "<h1>Not allowed</h1>" in body
    assert "You do not have permission to do this." in body
    assert 'rel="icon"' in body
    assert "Settings → Users" in body


def test_it_renders_the_500_page_without_a_request():
    # Django renders 500.html with an empty context; it must not need the user or nonce.
    body = render_to_string("500.html")
    assert "Server error" in body
    assert 'rel="icon"' in body


def test_it_answers_a_request_for_an_unknown_host_with_a_400_page(client, db):
    response = client.get("/", HTTP_HOST="not-ours.example")
    assert response.status_code == 400
    assert "<h1>Bad request</h1>" in response.content.decode()
