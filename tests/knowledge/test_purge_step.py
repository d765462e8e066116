from __future__ import annotations

import pytest

from opsdash.knowledge import services
from opsdash.knowledge.models import Conversation, Message
from tests.actions.conftest import make_conversations

pytestmark = pytest.mark.django_db


def test_it_sizes_windows_so_one_batch_usually_clears_one():
    assert services.purge_window({"messages": 1_000_000, "conversations": 20_000}, 5000) == 90
    assert services.purge_window({"messages": 0, "conversations": 0}, 5000) == services.PURGE_WINDOW
    assert services.purge_window({"messages": 10**6, "conversations": 1}, 5000) == 1


def test_it_counts_each_deleted_row_once_across_steps(acme, globex):
    make_conversations(acme, 5, 3)
    make_conversations(globex, 2, 3)
    scope = services.PurgeScope(tenant_id=acme.pk)
    checkpoint: dict[str, object] = {}
    messages = conversations = steps = 0
    while True:
        step = services.purge_step(scope, checkpoint, batch_size=2, window_size=2)
        steps += 1
        messages += step.messages
        conversations += step.conversations
        if step.finished:
            break
    assert (messages, conversations) == (15, 5)
    assert steps > 5
    assert not Conversation.objects.filter(tenant=acme).exists()
    assert Message.objects.count() == 6
