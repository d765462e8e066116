"""The "Needs attention" list on the overview: each kind of anomaly found with its size, the bars
that decide it (minimum counts, the baseline factor), the open alerts first and an
anomaly they report shown once, the user's tenants only, and one order however sizes tie.

Rollup rows are written straight into the rollup tables inside the test's transaction
(what is under test reads rollups only), after clearing what other tests folded in; the
rollback puts everything back.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import numpy as np
import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from opsdash.alerts.models import Alert
from opsdash.evals.models import EvalResult
from opsdash.lib import histogram
from opsdash.safety import selectors as safety_selectors
from opsdash.safety.models import SafetyFlag
from opsdash.telemetry import anomalies, rollups
from opsdash.tenants.models import Tenant
from opsdash.web import attention
from opsdash.web.attention import Line, needs_attention, ordered
from tests.conftest import make_user

HOUR = dt.timedelta(hours=1)
GROUPING = {"route": rollups.ROUTE, "model": rollups.MODEL}
TENANT_GROUPING = {"route": rollups.TENANT_ROUTE, "model": rollups.TENANT_MODEL}


@pytest.fixture
def now(db) -> dt.datetime:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM telemetry_rollup_minute; DELETE FROM telemetry_rollup_hour;")
        cursor.execute("DELETE FROM telemetry_rollup_day")
    return timezone.now()


def hour_at(now: dt.datetime, hours_ago: int) -> dt.datetime:
    return now.replace(minute=0, second=0, microsecond=0) - hours_ago * HOUR


def put(
    table: str,
    grouping: int,
    bucket: dt.datetime,
    *,
    tenant_id: int = 0,
    route: str = "",
    model: str = "",
    requests: int = 0,
    failed: int = 0,
    latency_ms: float = 100.0,
    cost: Decimal = Decimal(0),
) -> None:
    idx, cnt = histogram.sparse(np.full(requests, latency_ms))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} AS r (grouping, tenant_id, bucket, route, model, prompt_id, prompt_version, "
            "requests, ok, errors, cost_usd, latency_hist_idx, latency_hist_cnt) "
            "VALUES (%s, %s, %s, %s, %s, '', '', %s, %s, %s, %s, %s::smallint[], %s::integer[]) "
            "ON CONFLICT (grouping, tenant_id, bucket, route, model, prompt_id, prompt_version) "
            "DO UPDATE SET cost_usd = r.cost_usd + excluded.cost_usd",
            [grouping, tenant_id, bucket, route, model, requests, requests - failed, failed, cost, idx, cnt],
        )


def hours_of(
    now: dt.datetime,
    by: str,
    key: str,
    *,
    hours: int = 24,
    requests: int = 30,
    latency_ms: float = 100.0,
    failed: int = 0,
    unusual: dict[int, dict[str, float]] | None = None,
    tenant: Tenant | None = None,
) -> None:
    """``hours`` hours of one route or model (the hour ``h`` ago changed by ``unusual[h]``):
    global rows in the hour table, or one tenant's rows, kept per hour in the minute table."""
    for h in range(1, hours + 1):
        values = {"requests": requests, "latency_ms": latency_ms, "failed": failed, **(unusual or {}).get(h, {})}
        table, grouping = "telemetry_rollup_hour", GROUPING[by]
        if tenant is not None:
            table, grouping = "telemetry_rollup_minute", TENANT_GROUPING[by]
        put(
            table,
            grouping,
            hour_at(now, h),
            tenant_id=tenant.pk if tenant else 0,
            requests=int(values["requests"]),
            failed=int(values["failed"]),
            latency_ms=values["latency_ms"],
            **{by: key},
        )


def spend(tenant: Tenant, at: dt.datetime, cost: str) -> None:
    """Spend at an instant (added to what is there), in every table a read of the tenant's
    spend may use."""
    for table, width in (
        ("telemetry_rollup_minute", dt.timedelta(minutes=1)),
        ("telemetry_rollup_hour", HOUR),
        ("telemetry_rollup_day", dt.timedelta(days=1)),
    ):
        seconds = width.total_seconds()
        bucket = dt.datetime.fromtimestamp(at.timestamp() // seconds * seconds, dt.UTC)
        put(table, rollups.TENANT, bucket, tenant_id=tenant.pk, requests=1, cost=Decimal(cost))


def earlier_today(now: dt.datetime) -> dt.datetime:
    """An instant of today (UTC) before now, even at 00:01."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + (now - midnight) / 2


def lines_of(user, kind: str | None = None) -> list[Line]:
    return [line for line in needs_attention(user).lines if kind is None or line.kind == kind]


# --- Routes and models ---------------------------------------------------------------------


def test_it_finds_the_hours_a_route_was_several_times_slower_than_its_baseline(alice, now):
    hours_of(now, "route", "/chat", unusual={5: {"latency_ms": 530.0}, 6: {"latency_ms": 530.0}})
    hours_of(now, "route", "/search")
    [line] = lines_of(alice)
    assert line.kind == "latency"
    assert line.subject == "route /chat"
    # Read back from histogram buckets 4.4 % wide: within a bucket of 530 and 100 ms.
    assert re.fullmatch(r"p95 5\.\d× baseline \((5[0-5]\d) ms, usually (10\d|9\d) ms\)", line.size), line.size
    assert line.rank == pytest.approx(5.3, rel=0.05)
    start, end = hour_at(now, 6), hour_at(now, 4)
    assert line.when == attention.when_between(start, end)
    assert f"{start:%H:%M}–{end:%H:%M} UTC" in line.when
    # The link frames the incident, three hours either side, on the latency page by route.
    frame = attention.window_query(start, end, now)
    assert line.href == f"/latency/?by=route&route=/chat&range=custom&from={frame['from']}&to={frame['to']}"
    assert frame["from"] == f"{start - 3 * HOUR:%Y-%m-%dT%H:%M}"


def test_it_documents_and_applies_the_baseline_factor(alice, now):
    assert anomalies.P95_FACTOR == 3.0
    hours_of(now, "route", "/under", unusual={3: {"latency_ms": 270.0}})
    hours_of(now, "route", "/over", unusual={3: {"latency_ms": 330.0}})
    assert [line.subject for line in lines_of(alice)] == ["route /over"]
    assert lines_of(alice)[0].rank == pytest.approx(3.3, rel=0.05)


def test_it_leaves_hours_with_fewer_requests_than_the_minimum_alone(alice, now):
    assert anomalies.MIN_REQUESTS == 20
    hours_of(now, "route", "/quiet", unusual={2: {"latency_ms": 900.0, "requests": 19}})
    hours_of(now, "route", "/busy", unusual={2: {"latency_ms": 900.0, "requests": 20}})
    assert [line.subject for line in lines_of(alice)] == ["route /busy"]


def test_it_needs_a_few_slow_requests_not_one_outlier(alice, now):
    # Two requests of 25 at 5 s make a 5 s p95 on paper, and nothing is wrong.
    assert anomalies.LATENCY_MIN_SLOW == 5
    hours_of(now, "model", "m-1", unusual={3: {"requests": 0}})
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE telemetry_rollup_hour SET requests = 25, latency_hist_idx = %s::smallint[], "
            "latency_hist_cnt = %s::integer[] WHERE model = 'm-1' AND bucket = %s",
            [[histogram.bucket_of(100.0), histogram.bucket_of(5000.0)], [23, 2], hour_at(now, 3)],
        )
    assert anomalies.hourly_findings(None, now - dt.timedelta(days=1), now) == []
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE telemetry_rollup_hour SET latency_hist_cnt = %s::integer[] WHERE model = 'm-1' AND bucket = %s",
            [[20, 5], hour_at(now, 3)],
        )
    assert [line.subject for line in lines_of(alice)] == ["model m-1"]


def test_it_finds_an_error_burst_on_a_model(alice, now):
    # 2 failures in 100 as usual; an hour with 60 in 100.
    hours_of(now, "model", "gemini-x", requests=100, failed=2, unusual={8: {"failed": 60}})
    [line] = lines_of(alice)
    assert line.kind == "errors"
    assert line.subject == "model gemini-x"
    # Usually (23 × 2 + 60) / 2,400 = 4.4 % fail: the hour is 14 times that.
    assert line.size == "errors 60 % (14× the usual 4.4 %)"
    assert line.href.startswith("/latency/?by=model&model=gemini-x&range=custom&from=")


def test_it_needs_enough_failures_above_the_usual_rate_for_a_burst(alice, now):
    assert (anomalies.ERROR_FACTOR, anomalies.ERROR_MIN_POINTS, anomalies.ERROR_MIN_FAILURES) == (3.0, 0.10, 10)
    # 9 of 20 (45 %) is too few failures; 12 % against 2 % is ten points only just not.
    hours_of(now, "route", "/few", requests=20, unusual={4: {"failed": 9}})
    hours_of(now, "route", "/close", requests=100, failed=2, unusual={4: {"failed": 11}})
    hours_of(now, "route", "/burst", requests=100, failed=2, unusual={4: {"failed": 20}})
    assert [line.subject for line in lines_of(alice)] == ["route /burst"]


def test_it_shows_a_slow_and_failing_hour_of_one_subject_as_one_line(alice, now):
    hours_of(now, "model", "m-2", requests=50, unusual={2: {"failed": 30, "latency_ms": 1000.0}})
    [line] = lines_of(alice)
    assert line.kind == "errors"
    assert re.fullmatch(r"errors 60 % \(24× the usual 2\.5 %\) · p95 (9\.\d|10)× baseline .*", line.size), line.size


# --- Budgets, flags, evals -----------------------------------------------------------------


def test_it_finds_a_tenant_over_its_daily_and_monthly_budget(alice, now):
    globex = Tenant.objects.create(slug="globex", name="Globex", daily_budget_usd=50, monthly_budget_usd=100)
    Tenant.objects.create(slug="initech", name="Initech", daily_budget_usd=50, monthly_budget_usd=10_000)
    two_days_ago = now - dt.timedelta(days=2)
    spend(globex, two_days_ago, "104")
    spend(Tenant.objects.get(slug="initech"), two_days_ago, "49.99")
    lines = lines_of(alice, "budget")
    day = two_days_ago.replace(hour=0, minute=0, second=0, microsecond=0)
    daily = [line for line in lines if "daily" in line.size]
    assert [(line.subject, line.size, line.when) for line in daily] == [
        ("tenant globex", "208 % of daily budget ($104.00 of $50.00)", f"on {day:%b} {day.day} (UTC)")
    ]
    assert daily[0].href == (
        f"/cost/?tenant=globex&range=custom&from={day:%Y-%m-%dT%H:%M}&to={day + dt.timedelta(days=1):%Y-%m-%dT%H:%M}"
    )
    monthly = [line for line in lines if "monthly" in line.size]
    if day.month == now.month:
        assert [line.size for line in monthly] == ["104 % of monthly budget ($104.00 of $100.00)"]
        assert monthly[0].when == f"in {now:%B %Y}"
    else:  # Two days ago was last month: that month is the one over.
        assert [line.when for line in monthly] == [f"in {day:%B %Y}"]


def test_it_finds_a_spike_of_one_kind_of_flag_for_one_tenant(alice, now, acme, globex):
    start = hour_at(now, 30)
    flags = [SafetyFlag(tenant=acme, ts=start + i * 3 * HOUR, kind="pii", severity="low") for i in range(8)]
    for i in range(40):
        flags.append(SafetyFlag(tenant=globex, ts=hour_at(now, 5) + i * dt.timedelta(minutes=1), kind="jailbreak",
                                severity="high"))  # fmt: skip
    for i in range(9):  # under the minimum
        flags.append(SafetyFlag(tenant=acme, ts=hour_at(now, 5) + i * dt.timedelta(minutes=1), kind="toxicity",
                                severity="high"))  # fmt: skip
    SafetyFlag.objects.bulk_create(flags)
    assert safety_selectors.SPIKE_MIN_FLAGS == 10
    [line] = lines_of(alice, "flags")
    assert line.subject == "tenant globex · jailbreak"
    assert line.size == "40 jailbreak flags, 40 in the worst hour (40×; usually none)"
    assert line.when == attention.when_between(hour_at(now, 5), hour_at(now, 4))
    assert line.href.startswith("/safety/?tenant=globex&kind=jailbreak&range=custom&from=")


def test_it_finds_a_prompt_version_failing_its_evals(alice, now):
    for version, failed, ts in (("v7", 1, now - dt.timedelta(days=3)), ("v8", 11, now - dt.timedelta(days=1))):
        EvalResult.objects.bulk_create(
            EvalResult(run_id=f"run-{version}", ts=ts, suite="golden", prompt_id="support-reply",
                       prompt_version=version, model="m", case_id=f"c{i}", metric="exact", passed=i >= failed)
            for i in range(25)
        )  # fmt: skip
    [line] = lines_of(alice, "eval")
    assert line.subject == "prompt support-reply v8"
    assert line.size == "fails 44 % of 25 eval results; v7: 4 %"
    assert line.href.startswith("/evals/?prompt=support-reply@v8&range=custom&from=")


# --- Alerts, deduplication, scope, order ---------------------------------------------------


def alert(tenant: Tenant | None, rule: str, subject: str, title: str, **fields: object) -> Alert:
    return Alert.objects.create(
        rule=rule, subject=subject, tenant=tenant, title=title, path=fields.pop("path", "/alerts/"),
        opened_at=timezone.now(), **fields,
    )  # fmt: skip


def test_it_lists_open_alerts_first_and_an_anomaly_they_report_once(alice, now):
    globex = Tenant.objects.create(slug="globex", name="Globex", daily_budget_usd=50, monthly_budget_usd=100_000)
    spend(globex, earlier_today(now), "104")
    hours_of(now, "route", "/chat", unusual={2: {"latency_ms": 800.0}})
    day = f"{now:%Y-%m-%d}"
    alert(globex, "budget.daily", f"tenant:{globex.pk}", "globex: 208 % of the daily budget used", period=day,
          severity="critical", path="/cost/?tenant=globex&range=24h")  # fmt: skip
    alert(None, "eval.failing", "prompt:x@v2", "x v2: latest golden eval run passes 50%")
    alert(None, "budget.daily", "tenant:999", "resolved long ago", state="resolved", period=day)
    lines = lines_of(alice)
    assert [(line.kind, line.subject) for line in lines] == [
        ("alert", "globex: 208 % of the daily budget used"),
        ("alert", "x v2: latest golden eval run passes 50%"),
        ("latency", "route /chat"),
    ]
    assert lines[0].href == "/cost/?tenant=globex&range=24h"


def test_it_shows_a_scoped_user_only_their_tenants_lines(now, acme, globex):
    acme.daily_budget_usd = 10
    acme.save()
    spend(acme, earlier_today(now), "25")
    hours_of(now, "route", "/acme-only", tenant=acme, unusual={2: {"latency_ms": 900.0}})
    SafetyFlag.objects.bulk_create(
        SafetyFlag(tenant=acme, ts=hour_at(now, 3) + i * dt.timedelta(minutes=1), kind="pii", severity="high")
        for i in range(30)
    )
    alert(acme, "budget.daily", f"tenant:{acme.pk}", "acme: 250 % of the daily budget used", period=f"{now:%Y-%m-%d}")
    grace = make_user("grace", "admin", [acme])  # an admin limited to acme
    admin_of_globex = make_user("hank", "admin", [globex])
    viewer_of_globex = make_user("ivy", "viewer", [globex])
    assert {line.kind for line in lines_of(grace)} == {"alert", "latency", "flags"}
    assert [line.subject for line in lines_of(grace, "latency")] == ["route /acme-only"]
    assert lines_of(admin_of_globex) == []
    assert lines_of(viewer_of_globex) == []


def test_it_orders_equal_sizes_by_subject(alice, now):
    # Three routes with the same slow hour: the same size, so by name.
    for route in ("/b", "/c", "/a"):
        hours_of(now, "route", route, unusual={2: {"latency_ms": 600.0}})
    hours_of(now, "route", "/worst", unusual={2: {"latency_ms": 900.0}})
    assert [line.subject for line in lines_of(alice)] == ["route /worst", "route /a", "route /b", "route /c"]


def test_it_keeps_the_alerts_order_and_orders_anomalies_by_size_then_subject():
    def line(kind: str, subject: str, rank: float = 0.0) -> Line:
        return Line(kind=kind, subject=subject, size="", when="", href="/", rank=rank)

    alerts = [line("alert", "z"), line("alert", "a")]
    found = [line("budget", "tenant y", 2.0), line("flags", "tenant x", 2.0), line("latency", "route /q", 9.0)]
    assert [(x.kind, x.subject) for x in ordered(alerts, found)] == [
        ("alert", "z"), ("alert", "a"), ("latency", "route /q"), ("flags", "tenant x"), ("budget", "tenant y"),
    ]  # fmt: skip


def test_it_shows_a_route_an_alert_names_once_whatever_rule_raised_it(alice, now):
    hours_of(now, "route", "/chat", requests=100, failed=1, unusual={2: {"failed": 50}})
    hours_of(now, "route", "/other", unusual={2: {"latency_ms": 900.0}})
    alert(None, "errors.burst", "route:/chat", "/chat: errors 50 % (burst)", path="/latency/?route=/chat")
    assert [(line.kind, line.subject) for line in lines_of(alice)] == [
        ("alert", "/chat: errors 50 % (burst)"),
        ("latency", "route /other"),
    ]


# --- On the page ---------------------------------------------------------------------------


def test_it_puts_needs_attention_first_on_the_overview(client, alice, now):
    hours_of(now, "route", "/chat", unusual={2: {"latency_ms": 800.0}})
    client.force_login(alice)
    body = client.get("/").content.decode()
    assert body.index('data-testid="needs-attention"') < body.index('id="filters"') < body.index('id="panels"')
    assert "route /chat" in body
    assert re.search(r"p95 [78]\.\d× baseline", body)
    # A panels refresh (a filter change) does not read it again.
    partial = client.get("/?range=7d", headers={"HX-Request": "true", "HX-Target": "panels"}).content.decode()
    assert "needs-attention" not in partial


def test_it_says_when_nothing_needs_attention(client, alice, now, settings):
    settings.OPSDASH_ATTENTION_LOOKBACK_DAYS = 3
    client.force_login(alice)
    body = client.get("/").content.decode()
    assert "Nothing needs attention in the last 3 days." in body


def test_it_reuses_a_scopes_anomalies_within_the_minute_and_reads_them_again_after(alice, now, pinned_clock):
    """Many people reload the overview during an incident: the week of hourly histograms
    is read once a minute per scope, open alerts on every request."""
    # Early in a minute, so that the first two reads fall in the same one.
    pinned_clock.move_to(now.replace(second=1, microsecond=0) + dt.timedelta(minutes=1))
    now = timezone.now()
    hours_of(now, "route", "/chat", unusual={5: {"latency_ms": 530.0}})
    hours_of(now, "route", "/search")
    assert [line.subject for line in lines_of(alice)] == ["route /chat"]
    hours_of(now, "route", "/answer", unusual={3: {"latency_ms": 900.0}})
    assert [line.subject for line in lines_of(alice)] == ["route /chat"], "read again within the minute"
    pinned_clock.shift(dt.timedelta(minutes=1))
    assert sorted(line.subject for line in lines_of(alice)) == ["route /answer", "route /chat"]


def test_it_says_how_far_back_a_scoped_users_routes_are_read(client, now, acme, settings):
    settings.OPSDASH_MINUTE_ROLLUP_DAYS = 3
    grace = make_user("grace", "admin", [acme])
    assert needs_attention(grace).route_days == 3
    client.force_login(grace)
    body = client.get("/").content.decode()
    assert "routes and models of your tenants over the last 3 days" in body


def test_it_lists_open_alerts_when_the_anomalies_cannot_be_read(client, alice, now, acme, monkeypatch):
    alert(acme, "budget.daily", f"tenant:{acme.pk}", "acme: 250 % of the daily budget used", period=f"{now:%Y-%m-%d}")

    def fails(*args, **kwargs):
        raise OperationalError("canceling statement due to statement timeout")

    monkeypatch.setattr(anomalies, "hourly_findings", fails)
    client.force_login(alice)
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "could not be read just now" in body
    assert "acme: 250 % of the daily budget used" in body
    assert "Nothing needs attention" not in body
