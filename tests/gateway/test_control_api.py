from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.urls import reverse

from opsdash.accounts.services import create_token, revoke_token
from opsdash.gateway import api
from opsdash.tenants import services as tenant_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def gateway(db):
    token, secret = create_token(acting_user=None, kind="gateway", name="gateway")
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}", "token": token}


def verify(client, gateway, body, content_type="application/json"):
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(reverse("api-keys-verify"), raw, content_type=content_type,
                       HTTP_AUTHORIZATION=gateway["HTTP_AUTHORIZATION"])  # fmt: skip


def test_it_answers_for_a_valid_key(client, gateway, acme):
    _, secret = tenant_services.create_key(acme, acting_user=None)
    response = verify(client, gateway, {"key": secret})
    assert response.status_code == 200
    assert response.json() == {
        "valid": True,
        "tenant": "acme",
        "tenant_status": "active",
        "key_state": "active",
        "expires_at": None,
        "reason": None,
    }


def test_it_refuses_unknown_and_malformed_keys_alike(client, gateway, acme):
    _, secret = tenant_services.create_key(acme, acting_user=None)
    for key in (secret[:-2] + "xx", "odk_0123456789_nope", "garbage"):
        answer = verify(client, gateway, {"key": key}).json()
        assert answer["valid"] is False
        assert answer["reason"] == "unknown_key"
        assert answer["tenant"] is None


def test_it_reflects_a_pause_at_the_next_call(client, gateway, acme, alice):
    _, secret = tenant_services.create_key(acme, acting_user=None)
    tenant_services.pause_tenant(acme, acting_user=alice, reason="card declined")
    answer = verify(client, gateway, {"key": secret}).json()
    assert answer["valid"] is False
    assert answer["tenant_status"] == "paused"
    assert answer["reason"] == "tenant_paused"
    assert answer["paused_reason"] == "card declined"
    status = client.get(reverse("api-tenant", args=["acme"]), HTTP_AUTHORIZATION=gateway["HTTP_AUTHORIZATION"])
    assert status.json()["status"] == "paused"
    tenant_services.resume_tenant(acme, acting_user=alice, reason="paid")
    assert verify(client, gateway, {"key": secret}).json()["valid"] is True


def test_it_records_when_a_key_was_last_used(client, gateway, acme):
    key, secret = tenant_services.create_key(acme, acting_user=None)
    verify(client, gateway, {"key": secret})
    key.refresh_from_db()
    assert key.last_used_at is not None


@pytest.mark.parametrize(
    ("header", "why"),
    [(None, "no header"), ("Bearer nope", "not a token"), ("Basic abc", "wrong scheme"), ("ingest", "ingest token")],
)
def test_it_wants_a_gateway_token(client, acme, header, why):
    if header == "ingest":
        _, secret = create_token(acting_user=None, kind="ingest", name="producer")
        header = f"Bearer {secret}"
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    for response in (
        client.post(reverse("api-keys-verify"), "{}", content_type="application/json", **extra),
        client.get(reverse("api-tenant", args=["acme"]), **extra),
    ):
        assert response.status_code == 401, why
        assert response.json()["error"] == "unauthorized"


def test_it_stops_accepting_a_revoked_gateway_token(client, gateway, acme):
    revoke_token(gateway["token"], acting_user=None)
    assert verify(client, gateway, {"key": "x"}).status_code == 401


@pytest.mark.parametrize(
    ("body", "content_type", "status", "error"),
    [
        ("{not json", "application/json", 400, "invalid JSON"),
        ({"token": "x"}, "application/json", 400, "missing field"),
        ({"key": 42}, "application/json", 400, "invalid field"),
        ({"key": "  "}, "application/json", 400, "invalid field"),
        ([1, 2], "application/json", 400, "missing field"),
        ("key=x", "application/x-www-form-urlencoded", 415, "unsupported content type"),
        ({"key": "x" * 5000}, "application/json", 413, "too large"),
    ],
)
def test_it_explains_a_bad_request(client, gateway, body, content_type, status, error):
    response = verify(client, gateway, body, content_type)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert "detail" in response.json()


def test_it_answers_404_for_an_unknown_tenant(client, gateway):
    response = client.get(reverse("api-tenant", args=["nobody"]), HTTP_AUTHORIZATION=gateway["HTTP_AUTHORIZATION"])
    assert response.status_code == 404
    assert response.json() == {"error": "unknown tenant", "detail": {"tenant": "nobody"}}


def test_it_reports_budgets_and_spend_from_the_hour_rollup(client, gateway, acme, globex):
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('telemetry_rollup_hour') IS NOT NULL")
        if not cursor.fetchone()[0]:
            pytest.skip("no hour rollup table in this schema")
        rows = [
            (acme.pk, datetime(2026, 11, 20, 9, tzinfo=UTC), "40.5"),  # this month
            (acme.pk, datetime(2026, 11, 23, 8, tzinfo=UTC), "60.25"),  # today
            (acme.pk, datetime(2026, 10, 31, 23, tzinfo=UTC), "999"),  # last month
            (globex.pk, datetime(2026, 11, 23, 8, tzinfo=UTC), "5"),  # another tenant
        ]
        for tenant_id, bucket, cost in rows:
            cursor.execute(
                "INSERT INTO telemetry_rollup_hour (grouping, tenant_id, bucket, route, model, prompt_id, "
                "prompt_version, cost_usd) VALUES (4, %s, %s, '', '', '', '', %s)",
                [tenant_id, bucket, cost],
            )
    with time_machine.travel(datetime(2026, 11, 23, 12, tzinfo=UTC)):
        response = client.get(reverse("api-tenant", args=["acme"]), HTTP_AUTHORIZATION=gateway["HTTP_AUTHORIZATION"])
    body = response.json()
    assert body["budgets"] == {"daily_usd": 100.0, "monthly_usd": 2500.0}
    assert body["spend"] == {"today_usd": 60.25, "month_usd": 100.75, "source": "rollup_hour"}
    assert body["over_budget"] == {"daily": False, "monthly": False}


def test_it_reports_unknown_spend_without_a_rollup_table(client, gateway, acme, monkeypatch):
    monkeypatch.setattr(api, "_ROLLUP_TABLE", "no_such_rollup")
    body = client.get(reverse("api-tenant", args=["acme"]), HTTP_AUTHORIZATION=gateway["HTTP_AUTHORIZATION"]).json()
    assert body["spend"] == {"today_usd": None, "month_usd": None, "source": None}
    assert body["over_budget"] == {"daily": None, "monthly": None}


def test_it_keeps_an_expiring_key_valid_until_its_deadline(client, gateway, acme, alice):
    _, old = tenant_services.create_key(acme, acting_user=None)
    issued = tenant_services.new_key_secret()
    rotation = tenant_services.rotate_keys(
        acme, acting_user=alice, prefix=issued.prefix, secret_hash=issued.secret_hash, grace_hours=2
    )
    with time_machine.travel(rotation.grace_deadline - timedelta(seconds=5)):
        assert verify(client, gateway, {"key": old}).json()["valid"] is True
    with time_machine.travel(rotation.grace_deadline + timedelta(seconds=5)):
        assert verify(client, gateway, {"key": old}).json()["reason"] == "key_expired"
    assert verify(client, gateway, {"key": issued.secret}).json()["valid"] is True
