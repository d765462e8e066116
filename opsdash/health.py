"""Liveness for load balancers (/healthz), Prometheus metrics (/metrics) and the
/favicon.ico that browsers ask for on their own. The worker heartbeat these read is
written by opsdash.telemetry.tasks.heartbeat."""

from __future__ import annotations

import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from opsdash.celery import app as celery_app
from opsdash.telemetry.selectors import check_database, metrics_snapshot


def check_broker(timeout: int = 2) -> tuple[bool, str]:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
        return True, "ok"
    except Exception as exc:  # noqa: BLE001
        return False, type(exc).__name__


@require_GET
def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    # Browsers fetch /favicon.ico for responses without a <link rel="icon"> (JSON,
    # plain text); a 404 there is noise in every console and access log.
    return HttpResponsePermanentRedirect(static("favicon.svg"))


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    db_ok, db_detail = check_database()
    broker_ok, broker_detail = check_broker()
    body = {
        "status": "ok" if db_ok and broker_ok else "unavailable",
        "database": db_detail,
        "broker": broker_detail,
    }
    return JsonResponse(body, status=200 if db_ok and broker_ok else 503)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    started = time.perf_counter()
    registry = CollectorRegistry()
    snapshot = metrics_snapshot()
    up = Gauge("opsdash_up", "1 when the database answers", registry=registry)
    up.set(1 if snapshot["database_ok"] else 0)
    heartbeat_age = Gauge(
        "opsdash_worker_heartbeat_age_seconds",
        "Seconds since a Celery worker last ran the heartbeat",
        registry=registry,
    )
    heartbeat_age.set(snapshot["heartbeat_age_seconds"])
    for name, (help_text, value) in snapshot["gauges"].items():
        Gauge(f"opsdash_{name}", help_text, registry=registry).set(value)
    Gauge("opsdash_scrape_seconds", "Time spent building this response", registry=registry).set(
        time.perf_counter() - started
    )
    response = HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response


def settings_summary() -> dict[str, object]:
    return {"embedded_database": settings.EMBEDDED_DATABASE, "broker": settings.CELERY_BROKER_URL.split(":", 1)[0]}
