from __future__ import annotations

from django.db.models import QuerySet

from opsdash.tenants.models import Tenant


def tenant_list() -> QuerySet[Tenant]:
    return Tenant.objects.order_by("slug")
