"""The control API the product's gateway calls: is this key valid, is this tenant paused,
how much has it spent. Gateway tokens only (Authorization: Bearer); no cookies, so no CSRF.

Every answer reads the database directly, so a pause, a rotation or a revocation takes
effect at the next call.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from opsdash.accounts import tokens
from opsdash.accounts.models import ApiToken
from opsdash.http import json_error
from opsdash.lib.hashing import hash_secret, secret_matches, split_secret
from opsdash.tenants.models import Tenant, TenantKey

MAX_BODY = 4096
# last_used_at is written at most this often per key, so verify stays a read.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_DUMMY_HASH = hash_secret("opsdash-no-such-key")


def _unauthorized() -> JsonResponse:
    return tokens.unauthorized("gateway")


def authenticate_gateway(request: HttpRequest) -> ApiToken | None:
    return tokens.authenticate(request, ApiToken.Kind.GATEWAY)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _money(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def verify_key(secret: str, now: datetime | None = None) -> dict[str, Any]:
    """The gateway's question about one tenant key, answered from one indexed read."""
    now = now or timezone.now()
    answer: dict[str, Any] = {
        "valid": False,
        "tenant": None,
        "tenant_status": None,
        "key_state": None,
        "expires_at": None,
        "reason": "unknown_key",
    }
    parts = split_secret(secret)
    key = None
    if parts is not None:
        key = TenantKey.objects.select_related("tenant").filter(prefix=parts[1]).first()
    if not secret_matches(secret, key.secret_hash if key else _DUMMY_HASH) or key is None:
        return answer
    tenant = key.tenant
    answer.update(tenant=tenant.slug, tenant_status=tenant.status, key_state=key.state, expires_at=_iso(key.expires_at))
    if key.state == TenantKey.State.REVOKED:
        answer["reason"] = "key_revoked"
    elif key.expires_at is not None and key.expires_at <= now:
        # Past its grace deadline: refused even before the sweep marks it revoked.
        answer["reason"] = "key_expired"
    elif tenant.is_paused:
        answer["reason"] = "tenant_paused"
        answer["paused_reason"] = tenant.paused_reason
    else:
        answer["valid"], answer["reason"] = True, None
    if answer["valid"] and (key.last_used_at is None or key.last_used_at < now - LAST_USED_RESOLUTION):
        TenantKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return answer


@csrf_exempt
@require_POST
def keys_verify(request: HttpRequest) -> HttpResponse:
    if authenticate_gateway(request) is None:
        return _unauthorized()
    if (request.content_type or "").lower() != "application/json":
        return json_error(415, "unsupported content type", 'send application/json with a body {"key": "..."}')
    if len(request.body) > MAX_BODY:
        return json_error(413, "too large", f"the body may be at most {MAX_BODY} bytes")
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        return json_error(400, "invalid JSON", str(exc))
    if not isinstance(body, dict) or "key" not in body:
        return json_error(400, "missing field", {"field": "key", "error": "required"})
    secret = body["key"]
    if not isinstance(secret, str) or not secret.strip():
        return json_error(400, "invalid field", {"field": "key", "error": "must be a non-empty string"})
    return JsonResponse(verify_key(secret.strip()))


# --- Spend ----------------------------------------------------------------------------------

_ROLLUP_TABLE = "telemetry_rollup_hour"
_PER_TENANT_GROUPING = 4


def tenant_spend(tenant_id: int, now: datetime | None = None) -> dict[str, Any]:
    """Spend today and this month (UTC) from the per-tenant hour rollup.

    The one place the control API reads spend, so another source can replace it; without
    the rollup table the amounts are null (unknown), never a made-up zero.
    """
    now = now or timezone.now()
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    spend: dict[str, Any] = {"today_usd": None, "month_usd": None, "source": None}
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [_ROLLUP_TABLE])
        if not cursor.fetchone()[0]:
            return spend
        cursor.execute(
            f"""
            SELECT COALESCE(sum(cost_usd) FILTER (WHERE bucket >= %s), 0), COALESCE(sum(cost_usd), 0)
              FROM {_ROLLUP_TABLE}
             WHERE grouping = %s AND tenant_id = %s AND bucket >= %s AND bucket <= %s
            """,
            [day, _PER_TENANT_GROUPING, tenant_id, month, now],
        )
        today, month_total = cursor.fetchone()
    return {"today_usd": _money(today), "month_usd": _money(month_total), "source": "rollup_hour"}


def _over(spent: float | None, budget: Decimal | None) -> bool | None:
    if spent is None or budget is None:
        return None
    return spent >= float(budget)


@csrf_exempt
@require_GET
def tenant_status(request: HttpRequest, slug: str) -> HttpResponse:
    if authenticate_gateway(request) is None:
        return _unauthorized()
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        return json_error(404, "unknown tenant", {"tenant": slug})
    spend = tenant_spend(tenant.pk)
    return JsonResponse(
        {
            "tenant": tenant.slug,
            "name": tenant.name,
            "status": tenant.status,
            "paused_reason": tenant.paused_reason or None,
            "paused_at": _iso(tenant.paused_at),
            "budgets": {
                "daily_usd": _money(tenant.daily_budget_usd),
                "monthly_usd": _money(tenant.monthly_budget_usd),
            },
            "spend": spend,
            "over_budget": {
                "daily": _over(spend["today_usd"], tenant.daily_budget_usd),
                "monthly": _over(spend["month_usd"], tenant.monthly_budget_usd),
            },
        }
    )
