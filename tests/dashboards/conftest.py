"""Seeded traffic for the dashboard tests, ingested through the real path and folded
into rollups, plus an independent way to compute the same numbers from raw events."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone

from opsdash.ingest.events import ingest_events
from opsdash.telemetry.models import ModelPrice
from opsdash.telemetry.rollups import refresh_rollups
from tests.telemetry.factories import truncate_raw

ROUTES = ["/chat", "/search", "/summarize"]
MODELS = {"fast-1": 120.0, "big-2": 900.0, "nopricing-3": 300.0}  # median latency ms


def make_events(tenants: list[str], n: int, now: dt.datetime, seed: int = 7) -> list[dict]:
    rng = np.random.default_rng(seed)
    events = []
    for i in range(n):
        model = list(MODELS)[i % len(MODELS)]
        route = ROUTES[int(rng.integers(0, len(ROUTES)))]
        latency = float(rng.lognormal(np.log(MODELS[model] * (3 if route == "/summarize" else 1)), 0.5))
        status = "ok"
        roll = rng.random()
        if roll < 0.06:
            status = "error"
        elif roll < 0.08:
            status = "timeout"
        elif roll < 0.09:
            status = "rate_limited"
        event = {
            "event_id": f"e{i}",
            "ts": (now - dt.timedelta(minutes=float(rng.uniform(1, 20 * 60)))).isoformat(),
            "tenant": tenants[i % len(tenants)],
            "route": route,
            "model": model,
            "prompt_id": "answer",
            "prompt_version": "v2" if i % 4 == 0 else "v1",
            "status": status,
            "latency_ms": round(latency, 3),
            "ttft_ms": round(latency * 0.3, 3),
            "input_tokens": int(rng.integers(50, 2000)),
            "output_tokens": int(rng.integers(10, 800)),
            "cache_hit": bool(rng.random() < 0.2),
        }
        if i % 10 == 0 and model != "nopricing-3":
            event["cost_usd"] = 0.0123
        events.append(event)
    return events


def fold_all(expected: int, timeout: float = 60.0) -> None:
    """Fold until every ingested event is in the rollups. The fold only takes events
    older than the oldest open transaction on the server, so a transaction held open
    elsewhere on the same server (another test run) delays it; it never skips them."""
    import time

    folded = 0
    deadline = time.monotonic() + timeout
    while folded < expected and time.monotonic() < deadline:
        folded += refresh_rollups()
        if folded < expected:
            time.sleep(0.2)
    assert folded == expected, f"folded {folded} of {expected} events"


TENANTS = ("north", "south")


@pytest.fixture(scope="package")
def traffic(django_db_setup, django_db_blocker):
    """6,000 events over the last 20 hours for tenants north and south, ingested and
    folded once for all dashboard tests (they only read)."""
    from opsdash.tenants.models import Tenant

    with django_db_blocker.unblock():
        # Raw events and rollups are not emptied by Django between tests (unmanaged tables).
        truncate_raw()
        now = timezone.now()
        Tenant.objects.create(slug="north", name="North", daily_budget_usd=100, monthly_budget_usd=2500)
        Tenant.objects.create(slug="south", name="South", daily_budget_usd=2, monthly_budget_usd=20)
        for model in ("fast-1", "big-2"):
            ModelPrice.objects.create(
                model=model,
                input_usd_per_mtok=Decimal("0.5") if model == "fast-1" else Decimal("10"),
                output_usd_per_mtok=Decimal("1.5") if model == "fast-1" else Decimal("30"),
                effective_from=now - dt.timedelta(days=365),
            )
        events = make_events(list(TENANTS), 6000, now)
        result = ingest_events(events)
        assert result.accepted == len(events), result.rejected[:3]
        fold_all(len(events))
    yield events
    with django_db_blocker.unblock():
        truncate_raw()
        ModelPrice.objects.all().delete()
        Tenant.objects.filter(slug__in=TENANTS).delete()


@pytest.fixture
def southie(db, traffic):
    """A viewer limited to the south tenant."""
    from opsdash.tenants.models import Tenant
    from tests.conftest import make_user

    return make_user("southie", "viewer", [Tenant.objects.get(slug="south")])


def raw(sql: str, params: list | None = None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def raw_stats(where: str = "TRUE", params: list | None = None, group: str | None = None) -> dict:
    """Counts, sums and the exact p95 from raw events (the independent computation)."""
    key = group or "NULL"
    rows = raw(
        f"""SELECT {key}, count(*), count(*) FILTER (WHERE e.status IN ('error', 'timeout')),
                   coalesce(sum(e.cost_usd), 0), count(*) FILTER (WHERE e.cost_usd IS NULL),
                   sum(e.input_tokens), sum(e.output_tokens),
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY e.latency_ms)
            FROM telemetry_event e JOIN tenants_tenant t ON t.id = e.tenant_id WHERE {where} GROUP BY 1""",
        params,
    )
    return {
        r[0]: {
            "requests": r[1],
            "failed": r[2],
            "cost": r[3],
            "unknown": r[4],
            "input": r[5],
            "output": r[6],
            "p95": r[7],
        }
        for r in rows
    }


def plotly_array(value) -> np.ndarray:
    """Plotly encodes numpy arrays as typed arrays ({"dtype", "bdata", "shape"})."""
    import base64

    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if "shape" in value:
            shape = value["shape"]
            array = array.reshape(tuple(int(x) for x in (shape.split(",") if isinstance(shape, str) else shape)))
        return array
    return np.array(value, dtype=float)
