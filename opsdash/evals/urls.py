from django.urls import path

from opsdash.evals import views

urlpatterns = [
    path("evals/", views.evals, name="evals"),
    path("evals/compare/", views.compare, name="evals-compare"),
    path("evals/runs/<str:run_id>/", views.eval_run, name="eval-run"),
]
