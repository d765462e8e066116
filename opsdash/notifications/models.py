from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.db.models.functions import Lower

SEVERITIES = ("info", "warning", "critical")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
TRANSITIONS = ("opened", "acknowledged", "resolved", "reopened")
DEFAULT_TRANSITIONS = ["opened", "reopened", "resolved"]

# Webhooks go to http(s) only: no file://, ftp:// or other schemes urllib would open.
webhook_url_validator = URLValidator(schemes=["http", "https"], message="Enter an http:// or https:// URL.")


def _default_transitions() -> list[str]:
    return list(DEFAULT_TRANSITIONS)


class Channel(models.Model):
    """Where alert notices go: a webhook (Slack-compatible JSON, signed) or email.

    ``secret`` signs webhook bodies. opsdash must read it back to sign, so it is kept as
    issued (unlike API keys, of which only a hash is stored); it is shown once, when it is
    issued, and never logged, audited or rendered again.
    """

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        EMAIL = "email", "Email"

    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    enabled = models.BooleanField(default=True)
    url = models.URLField(max_length=1000, blank=True, validators=[webhook_url_validator])
    secret = models.CharField(max_length=128, blank=True, editable=False)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    recipients = ArrayField(models.EmailField(max_length=254), default=list, blank=True)
    # Blank: every severity.
    min_severity = models.CharField(max_length=16, choices=Severity.choices, blank=True)
    transitions = ArrayField(models.CharField(max_length=16), default=_default_transitions, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["enabled", "kind"])]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="notifications_channel_name_unique",
                violation_error_message="A channel with this name already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        self.name = self.name.strip()
        if self.kind == self.Kind.WEBHOOK and not self.url:
            errors["url"] = "A webhook channel needs a URL."
        if self.kind == self.Kind.EMAIL and not self.recipients:
            errors["recipients"] = "An email channel needs at least one recipient."
        unknown = sorted(set(self.transitions) - set(TRANSITIONS))
        if unknown:
            errors["transitions"] = f"Unknown transition(s): {', '.join(unknown)}."
        elif not self.transitions:
            errors["transitions"] = "Choose at least one transition to send."
        if errors:
            raise ValidationError(errors)

    @property
    def destination(self) -> str:
        """Where it sends, safe to show and log: a webhook's scheme and host only (the path
        of a Slack or Teams URL is itself a credential), or the email addresses."""
        if self.kind == self.Kind.WEBHOOK:
            parts = urlsplit(self.url)
            return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}" if parts.netloc else ""
        return ", ".join(self.recipients)

    def describe(self) -> dict[str, object]:
        """The channel's settings for audit records: never the secret nor a webhook's path."""
        return {
            "name": self.name,
            "kind": self.kind,
            "enabled": self.enabled,
            "destination": self.destination,
            "min_severity": self.min_severity or "any",
            "transitions": list(self.transitions),
        }

    def wants(self, severity: str, transition: str) -> bool:
        if transition not in self.transitions:
            return False
        if not self.min_severity:
            return True
        # An unknown severity counts as the highest: an alert is never dropped for a typo.
        return SEVERITY_RANK.get(severity, len(SEVERITIES)) >= SEVERITY_RANK[self.min_severity]


class Delivery(models.Model):
    """One notice on its way to one channel, with the outcome of its last attempt.

    The worker claims a delivery with a conditional UPDATE (pending → sending, attempts + 1)
    and commits the claim before it sends, so a redelivered message finds it in flight (or
    delivered) and sends nothing.
    """

    class Kind(models.TextChoices):
        ALERT = "alert", "Alert"
        TEST = "test", "Test"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    LIVE_STATES = (State.PENDING, State.SENDING)

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ALERT)
    notice = models.JSONField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["channel", "-created_at"]),
            # The sweeper's look-up of deliveries still on their way: few rows, a small index.
            models.Index(
                fields=["state"],
                condition=models.Q(state__in=["pending", "sending"]),
                name="notifications_delivery_live",
            ),
        ]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"delivery #{self.pk} to {self.channel_id} ({self.state})"

    @property
    def is_live(self) -> bool:
        return self.state in self.LIVE_STATES

    @property
    def title(self) -> str:
        return str(self.notice.get("title", "")) if isinstance(self.notice, dict) else ""
