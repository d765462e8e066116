from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "opsdash.audit"
    label = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing the module connects its login, logout and failed-login receivers.
        from opsdash.audit import signals  # noqa: F401
