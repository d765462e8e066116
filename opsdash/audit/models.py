from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models


class AuditEvent(models.Model):
    """Who did what to which object, when and from where.

    Rows are append-only (database triggers refuse UPDATE, DELETE and TRUNCATE) and each
    is signed together with the previous row's signature (audit/chain.py), so an edit, a
    deletion or a reordering made behind the triggers' back is found by
    `manage.py verify_audit`.

    ``tenant_ids`` names every tenant the event touches (before and after; a user's whole
    reach for events about a user) and ``all_tenants`` marks events about every tenant (a
    global role): an admin limited to some tenants sees an event only when all of them are
    in its scope.
    """

    ts = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text too: the name stays readable after the user is renamed or deleted.
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_label = models.CharField(max_length=200, blank=True)
    tenant = models.ForeignKey("tenants.Tenant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    tenant_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    all_tenants = models.BooleanField(default=False)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["actor", "ts"]),
            models.Index(fields=["tenant", "ts"]),
            GinIndex(fields=["tenant_ids"], name="audit_tenant_ids_gin"),
        ]

    def __str__(self) -> str:
        return f"{self.ts:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action}"


class ChainVerification(models.Model):
    """The result of one full check of the chain (verify_audit, or the hourly task), signed
    with the audit key. The audit page shows the newest one instead of walking the whole
    chain on a request (seconds per hundred thousand rows)."""

    checked_at = models.DateTimeField(db_index=True)
    rows = models.BigIntegerField()
    ok = models.BooleanField()
    row_id = models.BigIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)
    checkpoints = models.IntegerField(default=0)
    warnings = models.JSONField(default=list, blank=True)
    signature = models.CharField(max_length=64)

    class Meta:
        ordering = ["-checked_at", "-id"]

    def __str__(self) -> str:
        return f"{self.checked_at:%Y-%m-%d %H:%M} {'intact' if self.ok else 'broken'}"
