"""The pages: overview, latency, cost, evals, safety, tenants, the audit trail."""

from django.urls import path

from opsdash.web import audit, evals, safety, tenants, views

urlpatterns = [
    path("", views.overview, name="overview"),
    path("latency/", views.latency, name="latency"),
    path("cost/", views.cost, name="cost"),
    path("cost/export.csv", views.cost_export, name="cost-export"),
    path("evals/", evals.evals, name="evals"),
    path("evals/compare/", evals.compare, name="evals-compare"),
    path("evals/runs/<str:run_id>/", evals.eval_run, name="eval-run"),
    path("safety/", safety.safety, name="safety"),
    path("tenants/", tenants.tenant_list, name="tenants"),
    path("tenants/<slug:slug>/", tenants.tenant_detail, name="tenant-detail"),
    path(
        "tenants/<slug:slug>/conversations/<str:conversation_id>/",
        tenants.conversation_detail,
        name="conversation",
    ),
    path("audit/", audit.audit_log, name="audit"),
    path("audit/export.csv", audit.audit_export, name="audit-export"),
]
