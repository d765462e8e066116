from django.urls import path

from opsdash.evals import views

urlpatterns = [path("evals/", views.evals, name="evals")]
