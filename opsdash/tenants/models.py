from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models


class Tenant(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    paused_reason = models.TextField(blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    daily_budget_usd = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    monthly_budget_usd = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    # At 100 % of a budget the alert evaluation pauses the tenant, and resumes it when the
    # day or month is over (see opsdash/alerts/budgets.py).
    hard_stop = models.BooleanField(default=False, help_text="Pause the tenant when a budget is used up.")
    retention_days = models.PositiveIntegerField(default=30, validators=[MinValueValidator(1)])
    redact_pii = models.BooleanField(default=False, help_text="Redact emails, phone and card numbers, secrets.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def is_paused(self) -> bool:
        return self.status == self.Status.PAUSED


class TenantKey(models.Model):
    """An API key of a tenant, as the product's gateway sees it. The secret is never stored."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        EXPIRING = "expiring", "Expiring"
        REVOKED = "revoked", "Revoked"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "state"])]

    def __str__(self) -> str:
        return f"{self.tenant.slug}:{self.prefix}"
