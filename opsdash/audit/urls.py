from django.urls import path

from opsdash.audit import views

urlpatterns = [path("audit/", views.audit_log, name="audit")]
