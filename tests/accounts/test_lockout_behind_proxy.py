"""Behind a reverse proxy every login comes from the proxy's address: the lockout must
count the client the proxy names, and only when the proxy is one opsdash trusts."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import PASSWORD

PROXY = "10.0.0.2"


@pytest.fixture(autouse=True)
def _trusted_proxy(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]


def login(client: Client, username: str, password: str, remote: str, forwarded: str):
    return client.post(
        "/accounts/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=remote,
        HTTP_X_FORWARDED_FOR=forwarded,
    )


def test_it_locks_out_only_the_client_that_failed_behind_the_proxy(client, alice, settings):
    for i in range(settings.AXES_FAILURE_LIMIT):
        login(client, f"guess{i}", "wrong", PROXY, "203.0.113.7")
    # The client that failed is locked out, even with a right password...
    assert login(client, "alice", PASSWORD, PROXY, "203.0.113.7").status_code == 429
    # ...while another client behind the same proxy still gets in.
    assert login(Client(), "alice", PASSWORD, PROXY, "203.0.113.8").status_code == 302


def test_it_keys_on_the_connecting_address_when_it_is_not_a_trusted_proxy(client, alice, settings):
    untrusted = "198.51.100.20"
    for i in range(settings.AXES_FAILURE_LIMIT):
        # A fresh made-up client address each time does not spread the failures.
        login(client, f"guess{i}", "wrong", untrusted, f"203.0.113.{i + 1}")
    assert login(client, "alice", PASSWORD, untrusted, "203.0.113.99").status_code == 429
    assert login(Client(), "alice", PASSWORD, PROXY, "203.0.113.99").status_code == 302
