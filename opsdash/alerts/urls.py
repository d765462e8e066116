from django.urls import path

from opsdash.alerts import views

urlpatterns = [
    path("alerts/", views.alert_list, name="alerts"),
    path("alerts/<int:alert_id>/acknowledge", views.alert_acknowledge, name="alert-acknowledge"),
    path("settings/slos/", views.settings_slos, name="settings-slos"),
    path("settings/slos/new/", views.slo_create, name="settings-slo-new"),
    path("settings/slos/<int:slo_id>/", views.slo_edit, name="settings-slo-edit"),
    path("settings/slos/<int:slo_id>/enabled", views.slo_set_enabled, name="settings-slo-enabled"),
    path("settings/budgets/", views.settings_budgets, name="settings-budgets"),
    path("settings/budgets/<slug:slug>", views.budget_update, name="settings-budget-update"),
]
