from django.urls import path

from opsdash.actions import views

urlpatterns = [
    path("actions/", views.action_list, name="actions"),
    path("actions/<int:run_id>/", views.action_detail, name="action-detail"),
]
