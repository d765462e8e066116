from __future__ import annotations

from collections.abc import Collection

from django.db.models import QuerySet

from opsdash.tenants.models import Tenant, TenantKey


def tenants_in(ids: Collection[int] | None) -> QuerySet[Tenant]:
    """The tenants of ``ids`` (None: every tenant), by slug."""
    tenants = Tenant.objects.all()
    if ids is not None:
        tenants = tenants.filter(pk__in=ids)
    return tenants.order_by("slug")


def keys_of(tenant: Tenant) -> QuerySet[TenantKey]:
    return tenant.keys.order_by("-created_at", "-id")


def slugs_by_id(ids: Collection[int]) -> dict[int, str]:
    return dict(Tenant.objects.filter(pk__in=ids).values_list("pk", "slug"))


def ids_by_slug(slugs: Collection[str]) -> dict[str, int]:
    return dict(Tenant.objects.filter(slug__in=slugs).values_list("slug", "pk"))


def redacting(ids: Collection[int]) -> set[int]:
    """Which of these tenants have PII redaction on (read fresh: it may change any time)."""
    return set(Tenant.objects.filter(pk__in=ids, redact_pii=True).values_list("pk", flat=True))


def tenant_count() -> tuple[int, int]:
    """All tenants, and the paused ones (for /metrics)."""
    return Tenant.objects.count(), Tenant.objects.filter(status=Tenant.Status.PAUSED).count()
