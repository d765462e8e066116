from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

# Every rule the evaluation knows, with how the pages name it.
RULES = {
    "budget.daily": "Daily budget",
    "budget.monthly": "Monthly budget",
    "slo.burn_fast": "SLO fast burn",
    "slo.burn_slow": "SLO slow burn",
    "slo.latency_sustained": "SLO latency above target",
    "eval.failing": "Failing evals",
    "errors.burst": "Error-rate burst",
    "safety.spike": "Safety-flag spike",
}


class Slo(models.Model):
    """A service level objective for one route, over all tenants or for one tenant.

    Two indicators, each with its own error budget over the window: latency (at most
    ``100 - latency_percentile`` % of requests slower than ``latency_target_ms``) and
    errors (at most ``error_rate_target_pct`` % of requests failing: errors and timeouts).
    """

    route = models.CharField(max_length=200)
    tenant = models.ForeignKey("tenants.Tenant", null=True, blank=True, on_delete=models.CASCADE, related_name="slos")
    latency_percentile = models.DecimalField(
        max_digits=4,
        decimal_places=1,
        default=95,
        validators=[MinValueValidator(50), MaxValueValidator(99.9)],
        help_text="e.g. 95: this share of requests must be faster than the target.",
    )
    # Below the top of the latency histogram (~131 s), so "slower than the target" can be counted.
    latency_target_ms = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(120_000)])
    error_rate_target_pct = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=1,
        validators=[MinValueValidator(0.01), MaxValueValidator(50)],
        help_text="e.g. 1: at most this share of requests may fail (errors and timeouts).",
    )
    window_days = models.PositiveSmallIntegerField(default=30, validators=[MinValueValidator(1)])
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["route", "tenant_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "route"], name="one_slo_per_tenant_and_route", nulls_distinct=False
            )
        ]

    def __str__(self) -> str:
        return f"{self.route} ({self.tenant.slug if self.tenant_id and self.tenant else 'all tenants'})"

    @property
    def quantile(self) -> float:
        return float(self.latency_percentile) / 100

    @property
    def latency_budget(self) -> float:
        """Share of requests allowed to be slower than the target."""
        return 1 - self.quantile

    @property
    def error_budget(self) -> float:
        """Share of requests allowed to fail."""
        return float(self.error_rate_target_pct) / 100

    @property
    def percentile_text(self) -> str:
        """95 → "95", 99.9 → "99.9"."""
        return f"{Decimal(str(self.latency_percentile)).normalize():f}"

    @property
    def error_rate_text(self) -> str:
        return f"{Decimal(str(self.error_rate_target_pct)).normalize():f}"

    @property
    def percentile_label(self) -> str:
        return f"p{self.percentile_text}"

    @property
    def subject(self) -> str:
        return f"slo:{self.pk}"


class Alert(models.Model):
    """Something that needs a person's attention, raised and resolved by the evaluation.

    At most one unresolved alert exists per (rule, subject): the evaluation keeps it
    instead of raising it again every minute.
    """

    class State(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    rule = models.CharField(max_length=64)
    subject = models.CharField(max_length=200)
    tenant = models.ForeignKey("tenants.Tenant", null=True, blank=True, on_delete=models.CASCADE, related_name="alerts")
    slo = models.ForeignKey(Slo, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.WARNING)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    # The threshold that raised a budget alert (percent of the budget).
    level = models.PositiveSmallIntegerField(null=True, blank=True)
    title = models.CharField(max_length=300)
    detail = models.TextField(blank=True)
    path = models.CharField(max_length=500, help_text="Site-relative link to the page that shows the cause.")
    # The budget period (2026-11-20, 2026-11) the alert belongs to; empty for other rules.
    period = models.CharField(max_length=16, blank=True)
    opened_at = models.DateTimeField()
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_reason = models.CharField(max_length=200, blank=True)
    # Budget hard stop: the pause run this alert caused (or took over), when the stop
    # engaged, and when it was released at the end of the period.
    hard_stop_run = models.ForeignKey(
        "actions.ActionRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    hard_stop_at = models.DateTimeField(null=True, blank=True)
    hard_stop_ended_at = models.DateTimeField(null=True, blank=True)
    # Hysteresis: when the condition first fell below the rule's resolve threshold, in the
    # stretch that is going on (None while it is above). The evaluation resolves the alert
    # once this is OPSDASH_ALERT_QUIET_MINUTES old, so a condition that wavers around its
    # threshold keeps one alert open instead of opening and resolving it again and again.
    quiet_since = models.DateTimeField(null=True, blank=True)
    # The worst value seen while open (error rate, flags in an hour) for the rules whose
    # title names it, so a resolved alert still says how bad it got.
    peak = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [
            models.Index(fields=["state", "opened_at"]),
            models.Index(fields=["tenant", "state"]),
            models.Index(fields=["rule", "subject", "period"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "subject"],
                condition=~models.Q(state="resolved"),
                name="one_unresolved_alert_per_rule_and_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.rule} {self.subject} ({self.state})"

    @property
    def is_resolved(self) -> bool:
        return self.state == self.State.RESOLVED
