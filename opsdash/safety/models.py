from __future__ import annotations

from django.db import models


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class SafetyFlag(models.Model):
    """A safety signal raised on one event (jailbreak, prompt injection, PII, toxicity, ...)."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="safety_flags")
    ts = models.DateTimeField()
    event_id = models.CharField(max_length=128)
    conversation_id = models.CharField(max_length=200, blank=True)
    route = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=50)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    excerpt = models.TextField(blank=True, help_text="Redacted.")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "ts"]),
            models.Index(fields=["ts"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind}/{self.severity} {self.tenant_id}"
