from django.urls import path

from opsdash.gateway import api

urlpatterns = [
    path("api/v1/keys/verify", api.keys_verify, name="api-keys-verify"),
    path("api/v1/tenants/<slug:slug>", api.tenant_status, name="api-tenant"),
]
