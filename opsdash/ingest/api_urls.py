from django.urls import path

from opsdash.ingest import api, evals_api

urlpatterns = [
    path("api/v1/events", api.events, name="api-events"),
    path("api/v1/evals", evals_api.results, name="api-evals"),
    path("api/v1/evals/gate", evals_api.eval_gate, name="api-eval-gate"),
]
