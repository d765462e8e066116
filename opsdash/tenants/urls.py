from django.urls import path

from opsdash.tenants import views

urlpatterns = [
    path("tenants/", views.tenant_list, name="tenants"),
    path("tenants/<slug:slug>/", views.tenant_detail, name="tenant-detail"),
    path(
        "tenants/<slug:slug>/conversations/<str:conversation_id>/",
        views.conversation_detail,
        name="conversation",
    ),
]
