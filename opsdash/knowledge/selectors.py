"""Reads over conversations and their messages."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from opsdash.knowledge.models import Conversation, Message


def conversation_of(tenant: Any, external_id: str) -> Conversation:
    """The tenant's conversation by the id its producer gave it; 404 when there is none."""
    return get_object_or_404(Conversation, tenant=tenant, external_id=external_id)


def messages_of(conversation: Conversation) -> QuerySet[Message]:
    return conversation.messages.order_by("ts", "id")
