from django.urls import path

from opsdash.telemetry import views

urlpatterns = [
    path("", views.overview, name="overview"),
    path("latency/", views.latency, name="latency"),
    path("cost/", views.cost, name="cost"),
    path("cost/export.csv", views.cost_export, name="cost-export"),
]
