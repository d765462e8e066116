from __future__ import annotations

from celery import shared_task

from opsdash.tenants import services


@shared_task(name="opsdash.tenants.revoke_expired_keys", acks_late=True, soft_time_limit=120, time_limit=180)
def revoke_expired_keys() -> int:
    return services.revoke_expired_keys()
