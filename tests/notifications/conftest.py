"""A real webhook receiver on 127.0.0.1 and helpers for the notification tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.urls import reverse

from opsdash.notifications import services


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] | None = None
    delay: float = 0.0
    body: bytes | None = None


class Receiver:
    """Records every POST; answers with the queued replies in order, then with 200."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.replies: list[Reply] = []
        self.always: Reply | None = None
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
                    reply = receiver.replies.pop(0) if receiver.replies else (receiver.always or Reply())
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in (reply.headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                default = b"received" if reply.status < 300 else b"receiver says no"
                self.wfile.write(default if reply.body is None else reply.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        # A path like Slack's, whose last part is itself a credential.
        return f"http://127.0.0.1:{self.server.server_port}/services/T01/B02/pathtoken123"

    def reply(self, *statuses: int, **options: Any) -> None:
        self.replies.extend(Reply(status, **options) for status in statuses)

    def wait_for(self, count: int, seconds: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + seconds
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.requests


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as receiver:
        yield receiver


def verify(secret: str, request: Received, tolerance: int = 300) -> bool:
    """What docs/notifications.md tells receivers to do."""
    timestamp = request.headers["X-Opsdash-Timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"sha256={expected}", request.headers["X-Opsdash-Signature"])


def notice(**overrides: Any) -> dict[str, Any]:
    """A notice shaped as opsdash/alerts/signals.py documents it."""
    return {
        "alert_id": 42,
        "state": "open",
        "transition": "opened",
        "rule": "budget.daily",
        "severity": "critical",
        "title": "Daily budget exceeded",
        "text": "acme spent $132.40 today against a daily budget of $100.00.",
        "path": "/tenants/acme/",
        "tenant": "acme",
        "opened_at": "2026-11-23T12:00:00+00:00",
        **overrides,
    }


@pytest.fixture
def webhook(alice, receiver):
    """A webhook channel at the receiver, and its secret."""
    return services.create_channel(acting_user=alice, name="ops hook", kind="webhook", url=receiver.url)


@pytest.fixture
def email_channel(alice):
    channel, _ = services.create_channel(
        acting_user=alice, name="on-call mail", kind="email", recipients=["oncall@example.com", "lead@example.com"]
    )
    return channel


def assert_admin_only(client, method: str, url: str, users: dict[str, Any], admin_status: int) -> None:
    """alice (global admin) gets ``admin_status``; everyone else with a login 403; anonymous the login page."""
    send = client.post if method == "POST" else client.get
    client.logout()
    response = send(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    for name, user in users.items():
        client.force_login(user)
        expected = admin_status if name == "alice" else 403
        assert send(url).status_code == expected, f"{name} {method} {url}"
        client.logout()


@pytest.fixture
def everyone(alice, bob, carol, eve, grace) -> dict[str, Any]:
    # grace administers acme only; a channel carries every tenant's alerts, so not hers.
    return {"bob": bob, "carol": carol, "eve": eve, "grace": grace, "alice": alice}
