from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.conftest import PASSWORD


def test_it_shows_the_login_form(client, db):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b"csrfmiddlewaretoken" in response.content


def test_it_sends_a_strict_content_security_policy(client, db):
    response = client.get("/accounts/login/")
    policy = response["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]+)", policy).group(1)
    assert "'unsafe-inline'" not in script_src
    assert "'unsafe-eval'" not in script_src
    nonce = re.search(r"'nonce-([^']+)'", script_src).group(1)
    # The only scripts on the page carry the nonce.
    scripts = re.findall(rb"<script[^>]*>", response.content)
    assert scripts
    assert all(f'nonce="{nonce}"'.encode() in tag for tag in scripts)
    assert response["X-Frame-Options"] == "DENY"


def test_it_logs_in_with_the_right_password(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("overview")
    assert client.get("/").status_code == 200


def test_it_refuses_a_wrong_password(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert client.get("/").status_code == 302


def test_it_logs_out_with_a_post(client, alice):
    client.force_login(alice)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert client.get("/")["Location"].startswith("/accounts/login/")


def test_it_does_not_log_out_on_get(client, alice):
    client.force_login(alice)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.get("/").status_code == 200


def test_it_requires_csrf_on_login(db, alice):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 403


@pytest.mark.parametrize("user_fixture", ["eve"])
def test_it_refuses_pages_to_a_user_without_a_role(client, request, user_fixture):
    client.force_login(request.getfixturevalue(user_fixture))
    assert client.get("/").status_code == 403
