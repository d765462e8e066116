from __future__ import annotations

from django.conf import settings
from django.db import models


class ActionRun(models.Model):
    """One requested action on a tenant, from request to receipt.

    The worker claims a run with a conditional UPDATE and checkpoints it after every
    batch in the batch's own transaction, so a message delivered twice, or a worker that
    dies and is replaced, never does a batch twice. ``attempt`` counts the claims: a
    checkpoint is only accepted from the worker holding the latest one.
    """

    class State(models.TextChoices):
        REQUESTED = "requested", "Requested"
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    LIVE_STATES = (State.REQUESTED, State.AWAITING_APPROVAL, State.QUEUED, State.RUNNING)
    FINISHED_STATES = (State.SUCCEEDED, State.FAILED, State.CANCELLED)

    kind = models.CharField(max_length=64)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="action_runs")
    parameters = models.JSONField(default=dict, blank=True)
    # Set when the run is requested and needed by the worker, but never shown or audited
    # (e.g. the hash of a key that is being issued).
    internal = models.JSONField(default=dict, blank=True)
    preview = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=32, choices=State.choices, default=State.REQUESTED)
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(null=True, blank=True)
    checkpoint = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempt = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "created_at"]), models.Index(fields=["state", "created_at"])]
        constraints = [
            # One live run per tenant and kind: two purges or re-embeds of a tenant never overlap.
            models.UniqueConstraint(
                fields=["tenant", "kind"],
                condition=models.Q(state__in=["requested", "awaiting_approval", "queued", "running"]),
                name="one_live_run_per_tenant_and_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.tenant_id} ({self.state})"

    @property
    def is_live(self) -> bool:
        return self.state in self.LIVE_STATES

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED_STATES

    @property
    def is_polling(self) -> bool:
        """The page refreshes its progress while a worker has (or will soon have) the run."""
        return self.state in (self.State.QUEUED, self.State.RUNNING)

    @property
    def percent(self) -> int | None:
        if not self.progress_total:
            return 100 if self.state == self.State.SUCCEEDED else None
        return min(100, int(self.progress_done * 100 / self.progress_total))
