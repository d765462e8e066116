from __future__ import annotations

from typing import Any

from django.utils import timezone

from opsdash.health import HEARTBEAT_KEY, check_database


def metrics_snapshot() -> dict[str, Any]:
    from opsdash.telemetry.models import Heartbeat

    database_ok, _ = check_database()
    age = -1.0
    gauges: dict[str, tuple[str, float]] = {}
    if database_ok:
        beat = Heartbeat.objects.filter(name=HEARTBEAT_KEY).first()
        if beat is not None:
            age = (timezone.now() - beat.seen_at).total_seconds()
        from opsdash.tenants.models import Tenant

        gauges["tenants"] = ("Tenants known to opsdash", Tenant.objects.count())
        gauges["tenants_paused"] = ("Tenants paused", Tenant.objects.filter(status=Tenant.Status.PAUSED).count())
    return {"database_ok": database_ok, "heartbeat_age_seconds": age, "gauges": gauges}
