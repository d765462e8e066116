from __future__ import annotations

from django.db import models


class Conversation(models.Model):
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="conversations")
    external_id = models.CharField(max_length=200)
    user_hash = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField()
    last_message_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "external_id"], name="conversation_unique_per_tenant"),
        ]
        indexes = [models.Index(fields=["tenant", "last_message_at"])]

    def __str__(self) -> str:
        return self.external_id


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"

    # tenant is repeated here so purges and a distributed (Citus) layout need no join.
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField()
    event_id = models.CharField(max_length=128, blank=True)
    ts = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["tenant", "ts"]), models.Index(fields=["conversation", "ts"])]


class Document(models.Model):
    """A document of a tenant's knowledge base; its vectors live in Embedding (by generation)."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="documents")
    external_id = models.CharField(max_length=200)
    title = models.CharField(max_length=300)
    content = models.TextField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "external_id"], name="document_unique_per_tenant"),
        ]

    def __str__(self) -> str:
        return self.title
