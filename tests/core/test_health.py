from __future__ import annotations

from django.utils import timezone

from opsdash.telemetry.models import Heartbeat


def test_it_reports_healthy_when_database_and_broker_answer(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_it_reports_an_unreachable_broker(client, db, settings):
    from opsdash.celery import app

    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        response = client.get("/healthz")
    finally:
        app.conf.broker_url = settings.CELERY_BROKER_URL
    assert response.status_code == 503
    assert response.json()["broker"] != "ok"
    assert response.json()["database"] == "ok"


def test_it_exposes_prometheus_metrics(client, acme):
    Heartbeat.objects.create(name="worker", seen_at=timezone.now())
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    body = response.content.decode()
    assert "opsdash_up 1.0" in body
    assert "opsdash_tenants 1.0" in body
    age = float(
        next(line for line in body.splitlines() if line.startswith("opsdash_worker_heartbeat_age_seconds ")).split()[1]
    )
    assert 0 <= age < 60


def test_it_sends_browsers_asking_for_favicon_ico_to_the_icon(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].startswith("/static/favicon")
    assert response["Location"].endswith(".svg")
