from django.urls import include, path

from opsdash import health

urlpatterns = [
    path("favicon.ico", health.favicon, name="favicon"),
    path("healthz", health.healthz, name="healthz"),
    path("metrics", health.metrics, name="metrics"),
    path("", include("opsdash.accounts.urls")),
    path("", include("opsdash.telemetry.urls")),
    path("", include("opsdash.telemetry.otlp_urls")),
    path("", include("opsdash.telemetry.api_urls")),
    path("", include("opsdash.evals.urls")),
    path("", include("opsdash.safety.urls")),
    path("", include("opsdash.tenants.urls")),
    path("", include("opsdash.tenants.api_urls")),
    path("", include("opsdash.actions.urls")),
    path("", include("opsdash.audit.urls")),
    path("", include("opsdash.alerts.urls")),
    path("", include("opsdash.notifications.urls")),
]
