from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from opsdash.knowledge.models import Conversation, Document, Message


@pytest.fixture(autouse=True)
def _tasks_in_process(request):
    # Tests with a real worker send their tasks to it; the others run them in-process.
    if "celery_worker_process" in request.fixturenames:
        yield
        return
    eager = request.getfixturevalue("eager_celery")
    yield eager


def confirm(client, tenant, kind, data, *, slug=None, key=None, capture=None):
    """POST the confirmation of ``kind`` on ``tenant`` as the logged-in user."""
    payload = {**data, "idempotency_key": key or secrets.token_urlsafe(24)}
    if slug is not None:
        payload["confirm_slug"] = slug
    url = reverse("action-confirm", kwargs={"slug": tenant.slug, "kind": kind})
    if capture is None:
        return client.post(url, payload)
    with capture(execute=True):
        return client.post(url, payload)


def make_conversations(tenant, count, messages_each, *, ended=None, user_hash="", start=0):
    """``count`` conversations of ``tenant`` with ``messages_each`` messages, last one at ``ended``."""
    ended = ended or datetime(2026, 10, 1, tzinfo=UTC)
    conversations = Conversation.objects.bulk_create(
        Conversation(
            tenant=tenant,
            external_id=f"c{start + i}",
            user_hash=user_hash,
            started_at=ended - timedelta(hours=1),
            last_message_at=ended,
        )
        for i in range(count)
    )
    Message.objects.bulk_create(
        Message(
            tenant=tenant,
            conversation=conversation,
            role="user" if j % 2 == 0 else "assistant",
            content=f"message {j}",
            ts=ended - timedelta(minutes=messages_each - j),
        )
        for conversation in conversations
        for j in range(messages_each)
    )
    return conversations


def make_documents(tenant, count, start=0):
    return Document.objects.bulk_create(
        Document(
            tenant=tenant,
            external_id=f"d{start + i}",
            title=f"Document {start + i}",
            content=f"how to reset a password on device {i % 7}, step {i}",
            updated_at=datetime(2026, 10, 1, tzinfo=UTC),
        )
        for i in range(count)
    )
