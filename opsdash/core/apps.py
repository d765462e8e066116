from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Project-wide commands: preflight checks, the embedded database, demo data."""

    name = "opsdash.core"
    label = "core"
