from django.urls import include, path

from opsdash import health

urlpatterns = [
    path("favicon.ico", health.favicon, name="favicon"),
    path("healthz", health.healthz, name="healthz"),
    path("metrics", health.metrics, name="metrics"),
    path("", include("opsdash.accounts.urls")),
    path("", include("opsdash.web.urls")),
    path("", include("opsdash.ingest.otlp_urls")),
    path("", include("opsdash.ingest.api_urls")),
    path("", include("opsdash.gateway.urls")),
    path("", include("opsdash.actions.urls")),
    path("", include("opsdash.alerts.urls")),
    path("", include("opsdash.notifications.urls")),
]
