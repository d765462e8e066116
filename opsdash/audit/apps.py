import contextlib

from django.apps import AppConfig, apps


class AuditConfig(AppConfig):
    name = "opsdash.audit"
    label = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from opsdash.audit import signals  # noqa: F401 - connects the login receivers

        # Model history for everything whose change matters; secrets are never recorded.
        auditlog.register(apps.get_model("tenants", "Tenant"))
        auditlog.register(apps.get_model("tenants", "TenantKey"), exclude_fields=["secret_hash", "last_used_at"])
        auditlog.register(apps.get_model("accounts", "ApiToken"), exclude_fields=["secret_hash", "last_used_at"])
        auditlog.register(apps.get_model("accounts", "RoleAssignment"), m2m_fields={"tenants"})
        auditlog.register(apps.get_model("auth", "User"), exclude_fields=["password", "last_login"])
        for label in ("telemetry.ModelPrice",):
            with contextlib.suppress(LookupError):
                auditlog.register(apps.get_model(label))
