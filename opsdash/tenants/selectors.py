from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from opsdash.accounts.access import visible_tenants
from opsdash.tenants.models import Tenant


def tenant_list(user: Any) -> QuerySet[Tenant]:
    return visible_tenants(user).order_by("slug")
