from django.apps import AppConfig


class ActionsConfig(AppConfig):
    name = "opsdash.actions"
    label = "actions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The registry is filled here, once the apps are loaded, rather than as a side
        # effect of whichever module happens to import the definitions first.
        from opsdash.actions import definitions, registry

        registry.register_all(definitions.ACTIONS)
