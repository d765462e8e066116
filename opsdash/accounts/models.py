from __future__ import annotations

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    OPERATOR = "operator", "Operator"
    ADMIN = "admin", "Admin"


ROLE_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


class RoleAssignment(models.Model):
    """A user's role; with no tenants it is global, otherwise limited to those tenants."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_assignment")
    role = models.CharField(max_length=16, choices=Role.choices)
    tenants = models.ManyToManyField("tenants.Tenant", blank=True, related_name="role_assignments")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user} {self.role}"


class ApiToken(models.Model):
    """Bearer tokens for machines: producers (ingest) and the product's gateway."""

    class Kind(models.TextChoices):
        INGEST = "ingest", "Ingest"
        GATEWAY = "gateway", "Gateway"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ScopeHistory(models.Model):
    """Every tenant a user's role has ever covered (tenant NULL: every tenant, a global role).

    Rows are only added. An admin limited to some tenants manages a user only when all of
    them lie within its own scope, so deactivating a user, or moving their scope, never
    brings an account with reach elsewhere within a scoped admin's grasp.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scope_history")
    tenant = models.ForeignKey("tenants.Tenant", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    first_granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], nulls_distinct=False, name="accounts_scope_once")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} ever covered {self.tenant_id or 'every tenant'}"


class PasswordLink(models.Model):
    """A set-password link an admin issued. Only the hash of its token is kept; it works once,
    until ``expires_at``, and only while the user is active and it is the newest link."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="password_links")
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # The first browser that opens the link owns it (hash of a nonce kept in its session), so
    # someone who reads the token later, e.g. in an access log, cannot use it.
    opened_by = models.CharField(max_length=64, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"password link for {self.user_id}"


class KnownPassword(models.Model):
    """A password an admin chose for a user (at creation), so someone besides the user knows
    it. Gone once the user sets their own. When the user's reach later widens, such a password
    stops working: the admin who chose it must not gain the new reach through it."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="known_password")
    known_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    chosen_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"password of {self.user_id} chosen by {self.known_to_id}"
