from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "opsdash.accounts"
    label = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The permission rules are registered when access.py is imported; import it here
        # so every process (web, worker, commands) has them before the first check.
        from opsdash.accounts import access  # noqa: F401
