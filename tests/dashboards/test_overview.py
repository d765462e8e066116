from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from tests.dashboards.conftest import raw_stats


def test_it_shows_requests_errors_and_p95_equal_to_raw_events(client, alice, traffic):
    client.force_login(alice)
    response = client.get("/?range=24h")
    assert response.status_code == 200
    current = response.context["current"]
    exact = raw_stats()[None]
    assert current.requests == exact["requests"] == len(traffic)
    assert current.failed == exact["failed"]
    assert current.cost_usd == exact["cost"]
    assert current.p95 == pytest.approx(exact["p95"], rel=0.02)
    body = response.content.decode()
    assert f"{exact['requests']:,}" in body


def test_it_narrows_every_tile_to_one_tenant(client, alice, traffic):
    client.force_login(alice)
    response = client.get("/?range=24h&tenant=north")
    exact = raw_stats("t.slug = %s", ["north"])[None]
    assert response.context["current"].requests == exact["requests"]
    assert response.context["current"].p95 == pytest.approx(exact["p95"], rel=0.02)


def test_it_limits_a_scoped_viewer_to_their_tenants(client, southie, traffic):
    client.force_login(southie)
    response = client.get("/?range=24h")
    exact = raw_stats("t.slug = %s", ["south"])[None]
    assert response.context["current"].requests == exact["requests"]
    assert client.get("/?tenant=north").status_code == 404


def test_it_refuses_a_bad_range_with_a_clear_400(client, alice, traffic):
    client.force_login(alice)
    response = client.get("/?range=fortnight")
    assert response.status_code == 400
    assert b"These filters cannot be used" in response.content
    assert b"&#x27;range&#x27; must be one of" in response.content


def test_it_answers_with_only_the_panels_for_htmx(client, alice, traffic):
    client.force_login(alice)
    response = client.get("/?range=24h", headers={"HX-Request": "true", "HX-Target": "panels"})
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="panels"')
    assert "<html" not in body


def test_it_reads_a_bounded_number_of_queries(client, alice, traffic, django_assert_max_num_queries):
    client.force_login(alice)
    # "Needs attention" reads open alerts, route and model hours, budgets, flags and evals.
    with django_assert_max_num_queries(32):
        client.get("/?range=7d")


# --- Tiles that name what they count ---------------------------------------------------------


def tile(body: str, testid: str) -> str:
    start = body.index(f'data-testid="{testid}"')
    return body[body.rindex("<a", 0, start) : body.index("</a>", start)]


def test_it_names_the_first_open_alerts_on_the_alerts_tile(client, alice, acme):
    from opsdash.alerts.models import Alert

    now = timezone.now()
    for n, (title, severity) in enumerate(
        [("acme: 120 % of the daily budget used", "critical"), ("x v2: eval passes 50%", "warning"), ("old", "info")]
    ):
        Alert.objects.create(
            rule=f"r{n}", subject=f"s{n}", tenant=acme, title=title, severity=severity, path="/", opened_at=now
        )
    client.force_login(alice)
    alerts_tile = tile(client.get("/").content.decode(), "tile-alerts")
    assert "tile-alarm" in alerts_tile
    assert "acme: 120 % of the daily budget used" in alerts_tile
    assert "x v2: eval passes 50%" in alerts_tile
    assert "and 1 more" in alerts_tile
    assert ">old<" not in alerts_tile


def test_it_turns_the_spend_tile_red_at_the_daily_budget(client, alice, acme, db):
    from tests.dashboards.test_attention import earlier_today, spend

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM telemetry_rollup_minute; DELETE FROM telemetry_rollup_hour;")
        cursor.execute("DELETE FROM telemetry_rollup_day")
    client.force_login(alice)
    spend(acme, earlier_today(timezone.now()), "99.99")
    assert "tile-alarm" not in tile(client.get("/?tenant=acme").content.decode(), "tile-spend")
    spend(acme, earlier_today(timezone.now()), "0.01")
    spend_tile = tile(client.get("/?tenant=acme").content.decode(), "tile-spend")
    assert "tile-alarm" in spend_tile
    assert "100.0 % of $100 daily budget" in spend_tile


def test_it_names_the_top_open_flags_and_failing_prompts_on_their_tiles(client, alice, acme, globex):
    from opsdash.evals.models import EvalResult
    from opsdash.safety.models import SafetyFlag

    now = timezone.now()
    # Ties: 3 each for acme's pii and globex's jailbreak, by slug then kind; 1 for acme's toxicity.
    SafetyFlag.objects.bulk_create(
        SafetyFlag(tenant=tenant, ts=now - dt.timedelta(minutes=10 + i), kind=kind, severity="low")
        for tenant, kind, n in ((globex, "jailbreak", 3), (acme, "pii", 3), (acme, "toxicity", 1))
        for i in range(n)
    )
    for version, failed in (("v1", 1), ("v2", 5), ("v3", 5)):
        EvalResult.objects.bulk_create(
            EvalResult(run_id=f"run-{version}", ts=now - dt.timedelta(hours=1), suite="golden", prompt_id="answer",
                       prompt_version=version, model="m", case_id=f"c{i}", metric="exact", passed=i >= failed)
            for i in range(20)
        )  # fmt: skip
    client.force_login(alice)
    body = client.get("/?range=24h").content.decode()
    flags = tile(body, "tile-flags")
    assert flags.index("acme · pii (3)") < flags.index("globex · jailbreak (3)")
    assert "toxicity" not in flags
    failing = tile(body, "tile-failing")
    assert ">2<" in failing.replace(" ", "")
    assert failing.index("answer v2 (25 % failed)") < failing.index("answer v3 (25 % failed)")
    assert "answer v1" not in failing
