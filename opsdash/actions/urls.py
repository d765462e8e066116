from django.urls import path

from opsdash.actions import views

urlpatterns = [
    path("actions/", views.action_list, name="actions"),
    path("actions/<int:run_id>/", views.action_detail, name="action-detail"),
    path("actions/<int:run_id>/progress", views.action_progress, name="action-progress"),
    path("actions/<int:run_id>/approve", views.action_approve, name="action-approve"),
    path("actions/<int:run_id>/reject", views.action_reject, name="action-reject"),
    path("actions/<int:run_id>/cancel", views.action_cancel, name="action-cancel"),
    path("actions/<int:run_id>/retry", views.action_retry, name="action-retry"),
    path("tenants/<slug:slug>/actions/<slug:kind>/", views.action_new, name="action-new"),
    path("tenants/<slug:slug>/actions/<slug:kind>/confirm", views.action_confirm, name="action-confirm"),
    path("tenants/<slug:slug>/keys/<int:key_id>/revoke", views.tenant_key_revoke, name="tenant-key-revoke"),
]
