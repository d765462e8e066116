from django.urls import path

from opsdash.safety import views

urlpatterns = [path("safety/", views.safety, name="safety")]
