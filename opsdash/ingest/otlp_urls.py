from django.urls import path

from opsdash.ingest import otlp

# The OTLP/HTTP default path, so exporters need only the base URL.
urlpatterns = [
    path("v1/traces", otlp.traces, name="otlp-traces"),
]
