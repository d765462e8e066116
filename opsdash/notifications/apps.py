from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "opsdash.notifications"
    label = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The signal module is the whole contract with the alerts area: no alert models here.
        # Imported here, once the apps are loaded, as Django requires of receivers.
        from opsdash.alerts.signals import alert_changed
        from opsdash.notifications.receivers import on_alert_changed

        alert_changed.connect(on_alert_changed, dispatch_uid="notifications-dispatch")
