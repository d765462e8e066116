from __future__ import annotations

from django.db import models

from opsdash.knowledge.vectors import VectorField


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
        # (tenant, id): purges walk a tenant's conversations in id order.
        indexes = [models.Index(fields=["tenant", "last_message_at"]), models.Index(fields=["tenant", "id"])]

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

    def __str__(self) -> str:
        return f"{self.conversation_id}/{self.pk}"


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
        # Re-embedding walks a tenant's documents in id order.
        indexes = [models.Index(fields=["tenant", "id"])]

    def __str__(self) -> str:
        return self.title


class EmbeddingGeneration(models.Model):
    """One complete set of vectors of a tenant's documents, made by one embedder.

    Re-embedding builds a new generation beside the active one and switches to it only
    when every document has its vector, so searches never see a half-built set.
    """

    class State(models.TextChoices):
        BUILDING = "building", "Building"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"
        FAILED = "failed", "Failed"

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="embedding_generations")
    embedder = models.CharField(max_length=200)
    dimensions = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.BUILDING)
    documents = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"], condition=models.Q(state="active"), name="one_active_generation_per_tenant"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}#{self.pk} {self.embedder} ({self.state})"


class Embedding(models.Model):
    # tenant is repeated so that a distributed layout can co-locate vectors with documents.
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    generation = models.ForeignKey(EmbeddingGeneration, on_delete=models.CASCADE, related_name="embeddings")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="embeddings")
    vector = VectorField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["generation", "document"], name="embedding_unique_per_generation"),
        ]

    def __str__(self) -> str:
        return f"{self.generation_id}/{self.document_id}"
