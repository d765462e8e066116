from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import RequestFactory

from opsdash.lib.clientip import client_ip

ROOT = Path(__file__).resolve().parents[2]
PROXY = "10.0.0.2"


def request_from(remote: str | None, forwarded: str | None = None):
    meta = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    request = RequestFactory().get("/", **meta)
    if remote is None:
        del request.META["REMOTE_ADDR"]
    else:
        request.META["REMOTE_ADDR"] = remote
    return request


@pytest.fixture
def behind_proxy(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]


def test_it_ignores_x_forwarded_for_when_no_proxy_is_trusted(settings):
    settings.TRUSTED_PROXIES = []
    assert client_ip(request_from(PROXY, "203.0.113.7")) == PROXY


def test_it_takes_the_client_a_trusted_proxy_names(behind_proxy):
    assert client_ip(request_from(PROXY, "203.0.113.7")) == "203.0.113.7"


def test_it_ignores_what_the_client_put_in_front_of_the_proxy_entry(behind_proxy):
    # The proxy appends the address it saw; whatever comes before it the client wrote.
    assert client_ip(request_from(PROXY, "198.51.100.1, 10.0.0.9, 203.0.113.7")) == "203.0.113.7"


def test_it_ignores_x_forwarded_for_from_an_address_it_does_not_trust(behind_proxy):
    assert client_ip(request_from("203.0.113.50", "198.51.100.1")) == "203.0.113.50"


def test_it_walks_back_through_several_trusted_proxies(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24", "192.0.2.10/32"]
    assert client_ip(request_from(PROXY, "198.51.100.1, 203.0.113.7, 192.0.2.10")) == "203.0.113.7"


def test_it_keeps_the_proxy_when_it_names_no_client(behind_proxy):
    assert client_ip(request_from(PROXY)) == PROXY
    assert client_ip(request_from(PROXY, "not-an-address")) == PROXY


def test_it_reads_ipv6_ports_and_ipv4_peers_of_a_dual_stack_server(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24", "fd00::/8"]
    assert client_ip(request_from("::ffff:10.0.0.2", "203.0.113.7:51234")) == "203.0.113.7"
    assert client_ip(request_from("fd00::2", "[2001:db8::7]:443")) == "2001:db8::7"


def test_it_has_no_address_for_a_request_without_one():
    assert client_ip(None) is None
    assert client_ip(request_from(None)) is None
    assert client_ip(request_from("")) is None


# --- OPSDASH_TRUSTED_PROXIES at start-up ---------------------------------------------------


def manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPSDASH_", "DATABASE_URL", "CELERY_"))}
    # A database that is never reached: settings are read before any connection.
    base |= {"OPSDASH_DEBUG": "1", "OPSDASH_DATA_DIR": str(tmp_path), "DATABASE_URL": "postgres://u@127.0.0.1:1/x"}
    base |= env
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("proxy.internal", "OPSDASH_TRUSTED_PROXIES='proxy.internal' has 'proxy.internal', which is not an IP address"),
        ("10.0.0.5/24", "OPSDASH_TRUSTED_PROXIES='10.0.0.5/24' has '10.0.0.5/24', a network with host bits set; "
         "write it as 10.0.0.0/24."),
        ("10.0.0.2,,10.0.0.3", "OPSDASH_TRUSTED_PROXIES='10.0.0.2,,10.0.0.3' has an empty entry"),
        ("0.0.0.0/0", "OPSDASH_TRUSTED_PROXIES='0.0.0.0/0' trusts every address"),
    ],
)  # fmt: skip
def test_it_refuses_to_start_with_proxies_it_cannot_read(tmp_path, value, message):
    result = manage(tmp_path, "check", OPSDASH_TRUSTED_PROXIES=value)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_it_reads_addresses_and_networks_of_proxies(tmp_path):
    result = manage(
        tmp_path,
        "shell",
        "-c",
        "from django.conf import settings; print(settings.TRUSTED_PROXIES)",
        OPSDASH_TRUSTED_PROXIES=" 10.0.0.2, 172.16.0.0/12 ,fd00::/8",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "['10.0.0.2/32', '172.16.0.0/12', 'fd00::/8']"
