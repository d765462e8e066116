"""seed_demo: deterministic demo data whose five stories can be found in it.

The first half checks the generated records (no database); the second loads them with
the command through the ingest path and finds the stories in what was stored.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Value
from django.db.models.functions import Concat
from django.utils import timezone

from opsdash.core.demo import catalog, traffic
from opsdash.core.demo.generator import DemoSizes, floor_hour, generate
from opsdash.evals.models import EvalResult
from opsdash.knowledge.models import Conversation, Document, Message
from opsdash.safety.models import SafetyFlag
from opsdash.telemetry.models import Event, ModelPrice
from opsdash.tenants.models import Tenant, TenantKey
from tests.telemetry.factories import truncate_raw

ANCHOR = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
SMALL = DemoSizes(tenants=4, days=3, events=10_000)
STATUSES = set(catalog.STATUSES)


def ms(value: str) -> int:
    return int(datetime.fromisoformat(value).timestamp() * 1000)


@pytest.fixture(scope="module")
def demo():
    return generate(42, ANCHOR, SMALL)


@pytest.fixture(scope="module")
def events(demo):
    return demo.event_records()


def p95(values) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), 95))


def price_of(demo, event) -> float | None:
    if "cost_usd" in event:
        return event["cost_usd"]
    prices = {p.model: p for p in demo.prices}
    price = prices.get(event["model"])
    if price is None:
        return None
    return (event["input_tokens"] * price.input_usd_per_mtok + event["output_tokens"] * price.output_usd_per_mtok) / 1e6


def test_it_generates_the_same_data_for_the_same_seed_and_anchor(demo, events):
    again = generate(42, ANCHOR, SMALL)
    assert again.event_records() == events
    assert again.eval_results == demo.eval_results
    assert again.tenants == demo.tenants
    assert again.documents == demo.documents
    assert again.summary() == demo.summary()


def test_it_generates_other_data_for_another_seed(events):
    other = generate(7, ANCHOR, SMALL).event_records()
    assert [e["ts"] for e in other[:100]] != [e["ts"] for e in events[:100]]


def test_it_shapes_every_event_as_the_ingest_contract_asks(demo, events):
    start, end = ms((ANCHOR - timedelta(days=3)).isoformat()), ms(ANCHOR.isoformat())
    slugs = set(demo.slugs)
    assert len({(e["tenant"], e["event_id"]) for e in events}) == len(events)
    assert abs(len(events) - SMALL.events) < SMALL.events * 0.05
    for event in events:
        assert start <= ms(event["ts"]) < end
        assert event["ts"].endswith("+00:00")
        assert event["tenant"] in slugs
        assert event["status"] in STATUSES
        assert 0 <= event["latency_ms"] <= 3_600_000
        assert 0 <= event.get("ttft_ms", 0) <= event["latency_ms"]
        assert isinstance(event["input_tokens"], int)
        assert isinstance(event["output_tokens"], int)
        assert min(event["input_tokens"], event["output_tokens"]) >= 0
        for flag in event.get("safety", []):
            assert flag["severity"] in {"low", "medium", "high", "critical"}
    # Cost is left to the price table except for cache hits, which cost nothing.
    assert {e["cost_usd"] for e in events if "cost_usd" in e} == {0.0}
    assert all(e["cache_hit"] for e in events if "cost_usd" in e)


def test_it_mixes_statuses_models_routes_and_conversations(events):
    statuses = {s: sum(e["status"] == s for e in events) for s in STATUSES}
    assert statuses["ok"] > 0.85 * len(events)
    assert all(count > 0 for count in statuses.values())
    assert len({e["route"] for e in events}) >= 12
    assert len({e["model"] for e in events}) == len(catalog.MODELS)
    talking = [e for e in events if "input" in e]
    assert 0.02 * len(events) < len(talking) < 0.3 * len(events)
    assert all(e["conversation_id"] and e["user"] for e in talking)
    assert any(e["cache_hit"] for e in events)


def test_it_includes_a_model_without_a_price(demo, events):
    priced = {p.model for p in demo.prices}
    unpriced = {e["model"] for e in events} - priced
    assert unpriced == {"llama-3.1-70b"}


def test_it_hides_a_latency_incident_on_one_route(demo, events):
    story = demo.story
    route = [e for e in events if e["route"] == story.incident_route and not e["cache_hit"]]
    inside = [e["latency_ms"] for e in route if story.incident.start_ms <= ms(e["ts"]) < story.incident.end_ms]
    outside = [e["latency_ms"] for e in route if not story.incident.start_ms <= ms(e["ts"]) < story.incident.end_ms]
    assert len(inside) >= 20
    assert p95(inside) > 3 * p95(outside)
    assert story.incident.end_ms - story.incident.start_ms == 2 * 3_600_000


def test_it_hides_an_error_burst_on_one_model(demo, events):
    story = demo.story

    def failure_rate(rows):
        return sum(e["status"] in ("error", "timeout") for e in rows) / len(rows)

    model = [e for e in events if e["model"] == story.burst_model]
    inside = [e for e in model if story.burst.start_ms <= ms(e["ts"]) < story.burst.end_ms]
    outside = [e for e in model if not story.burst.start_ms <= ms(e["ts"]) < story.burst.end_ms]
    others = [e for e in events if e["model"] != story.burst_model and story.burst.contains(np.array(ms(e["ts"])))]
    assert len(inside) >= 50
    assert failure_rate(inside) > 0.5
    assert failure_rate(outside) < 0.05
    assert failure_rate(others) < 0.1


def test_it_puts_one_tenant_over_its_budgets(demo, events):
    story = demo.story
    day = story.budget_day_ms
    month_start = ms(datetime.fromtimestamp(day / 1000, UTC).replace(day=1).isoformat())
    for index, tenant in enumerate(demo.tenants):
        mine = [(ms(e["ts"]), price_of(demo, e)) for e in events if e["tenant"] == tenant.slug]
        today = sum(c for t, c in mine if c is not None and day <= t < day + 86_400_000)
        month = sum(c for t, c in mine if c is not None and month_start <= t < day + 86_400_000)
        if index == story.budget_tenant:
            assert today > 1.5 * tenant.daily_budget_usd
            assert month > 1.1 * tenant.monthly_budget_usd
            assert tenant.monthly_budget_usd > tenant.daily_budget_usd
        elif tenant.daily_budget_usd is not None:
            assert today < tenant.daily_budget_usd
            assert month < tenant.monthly_budget_usd
    assert any(t.daily_budget_usd is None for t in demo.tenants)


def test_it_hides_a_jailbreak_wave_against_one_tenant(demo, events):
    story = demo.story
    target = demo.slugs[story.wave_tenant]
    attacks = [e for e in events if any(f["kind"] in ("jailbreak", "prompt_injection") for f in e.get("safety", []))]
    in_wave = [e for e in attacks if e["tenant"] == target and story.wave.contains(np.array(ms(e["ts"])))]
    assert len(in_wave) >= 60
    # Per hour, the wave dwarfs the worst hour any tenant sees otherwise.
    wave_ids = {e["event_id"] for e in in_wave}
    others = Counter((e["tenant"], e["ts"][:13]) for e in attacks if e["event_id"] not in wave_ids)
    assert len(in_wave) / 3 > 5 * max(others.values())
    assert any(f["kind"] == "prompt_injection" for e in in_wave for f in e["safety"])
    assert sum(e["status"] == "blocked" for e in in_wave) > len(in_wave) / 2
    assert story.wave.end_ms - story.wave.start_ms == 3 * 3_600_000


def test_it_makes_the_new_prompt_version_fail_its_golden_evals(demo, events):
    story = demo.story

    def golden_pass_rate(version):
        rows = [
            r
            for r in demo.eval_results
            if r["suite"] == "golden" and r["prompt_id"] == story.regressing_prompt and r["prompt_version"] == version
        ]
        assert rows
        return sum(r["passed"] for r in rows) / len(rows)

    assert golden_pass_rate(story.good_version) > 0.85
    assert golden_pass_rate(story.bad_version) < 0.65
    assert len({(r["run_id"], r["case_id"], r["metric"]) for r in demo.eval_results}) == len(demo.eval_results)

    def error_rate(version):
        rows = [e for e in events if e.get("prompt_id") == story.regressing_prompt and e["prompt_version"] == version]
        assert all((ms(e["ts"]) >= story.release_ms) == (version == story.bad_version) for e in rows)
        return sum(e["status"] == "error" for e in rows) / len(rows)

    assert error_rate(story.bad_version) > 3 * error_rate(story.good_version)


@pytest.mark.parametrize("hour", [0, 3, 11, 15, 23])
@pytest.mark.parametrize("days", [1, 2])
def test_it_keeps_every_story_inside_a_short_range(hour, days):
    anchor = datetime(2026, 3, 1, hour, tzinfo=UTC)
    story = generate(1, anchor, DemoSizes(tenants=2, days=days, events=2_000)).story
    end = int(anchor.timestamp() * 1000)
    start = end - days * 86_400_000
    for window in (story.incident, story.burst, story.wave, story.budget):
        assert start <= window.start_ms < window.end_ms <= end
    assert start <= story.release_ms < end
    assert story.wave_tenant != story.budget_tenant


@pytest.mark.parametrize("hour", [0, 1, 2, 3, 10, 12, 22])
def test_it_gives_every_eval_result_its_own_run_case_and_metric_at_any_anchor_hour(hour):
    demo = generate(1, datetime(2026, 3, 1, hour, tzinfo=UTC), DemoSizes(tenants=2, days=3, events=2_000))
    results = demo.eval_results
    # Anchored at 02:00 the first release gate fell on the first nightly run (02:30):
    # two runs with one id, and ingest kept one result of each pair.
    assert len({(r["run_id"], r["case_id"], r["metric"]) for r in results}) == len(results)
    # Anchored at 10:00 the new version was released at the range's first instant, and
    # the version it replaced had no eval run to compare with.
    story = demo.story
    golden = {
        r["prompt_version"] for r in results if r["suite"] == "golden" and r["prompt_id"] == story.regressing_prompt
    }
    assert {story.good_version, story.bad_version} <= golden


def test_it_names_each_story_and_where_to_see_it(demo):
    lines = demo.summary()
    assert len(lines) == 5
    assert lines[0].startswith("latency incident: route /chat/answer, 2026-11-20 14:00–16:00 UTC")
    assert all(re.search(r" — see .*/(latency|tenants|safety|evals)/", line) for line in lines)


# --- Through the command and the ingest path, found in the database ------------------------

LOADED = ("--tenants", "4", "--days", "3", "--events", "10000")


def sql(query: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params or [])
        return cursor.fetchall()


def fingerprint() -> tuple:
    """What two loads of the same seed must agree on, read back from the tables."""
    events = sql(
        "SELECT count(*), md5(string_agg(t.slug || '/' || e.event_id, ',' ORDER BY t.slug, e.event_id)), "
        "sum(e.cost_usd), sum(e.latency_ms), sum(e.input_tokens + e.output_tokens), count(e.cost_usd) "
        "FROM telemetry_event e JOIN tenants_tenant t ON t.id = e.tenant_id"
    )[0]
    evals = sql("SELECT count(*), count(*) FILTER (WHERE passed), sum(score) FROM evals_evalresult")[0]
    flags = sql("SELECT count(*), count(DISTINCT event_id) FROM safety_safetyflag")[0]
    budgets = sql("SELECT slug, daily_budget_usd, monthly_budget_usd FROM tenants_tenant ORDER BY slug")
    return events, evals, flags, budgets


def load(anchor: datetime) -> str:
    out = StringIO()
    call_command("seed_demo", *LOADED, "--anchor", anchor.isoformat(), stdout=out)
    return out.getvalue()


def empty_everything() -> None:
    truncate_raw()
    call_command("flush", interactive=False, verbosity=0)


def test_it_fails_loudly_and_keeps_nothing_when_ingest_refuses_a_record(db, monkeypatch):
    # Free the demo slugs should the module's demo be loaded already (rolled back after).
    Tenant.objects.update(slug=Concat(Value("old-"), "slug"))
    tenants, events = Tenant.objects.count(), Event.objects.count()
    records = traffic.records

    def one_bad(*args):
        batch = records(*args)
        batch[3]["status"] = "exploded"
        return batch

    monkeypatch.setattr(traffic, "records", one_bad)
    with pytest.raises(CommandError, match=r"events: the ingest refused demo records, 1 rejected \(#3 status: must be"):
        call_command("seed_demo", "--tenants", "2", "--days", "1", "--events", "1000", stdout=StringIO())
    assert Tenant.objects.count() == tenants
    assert Event.objects.count() == events


@pytest.fixture(scope="module")
def loaded(django_db_setup, django_db_blocker):
    """The demo loaded once for this module (committed, so rollups can fold it)."""
    anchor = floor_hour(timezone.now())
    with django_db_blocker.unblock():
        empty_everything()
        output = load(anchor)
        yield generate(42, anchor, SMALL), output, fingerprint()
        empty_everything()


def window_sql(window) -> list:
    return [datetime.fromtimestamp(window.start_ms / 1000, UTC), datetime.fromtimestamp(window.end_ms / 1000, UTC)]


def test_it_loads_tenants_keys_prices_and_documents(loaded, db):
    demo, _, _ = loaded
    assert sorted(Tenant.objects.values_list("slug", flat=True)) == sorted(demo.slugs)
    redacting = set(Tenant.objects.filter(redact_pii=True).values_list("slug", flat=True))
    assert redacting == {t.slug for t in demo.tenants if t.redact_pii}
    keys = TenantKey.objects.all()
    assert keys.count() == sum(len(t.keys) for t in demo.tenants)
    assert all(len(k.prefix) == 10 and len(k.secret_hash) == 64 for k in keys)
    assert set(keys.values_list("state", flat=True)) == {"active", "expiring", "revoked"}
    assert set(ModelPrice.objects.values_list("model", flat=True)) == {p.model for p in demo.prices}
    assert Document.objects.count() == len(demo.documents) >= 4 * 20


def test_it_sends_every_event_and_eval_result_through_ingest(loaded, db):
    demo, output, _ = loaded
    assert Event.objects.count() == demo.event_count
    assert EvalResult.objects.count() == len(demo.eval_results)
    assert f"stored {demo.event_count:,} events (0 duplicates)" in output
    # Cost came from the price table, except for the model that has none.
    unknown = set(Event.objects.filter(cost_usd__isnull=True).values_list("model", flat=True))
    assert unknown == {"llama-3.1-70b"}
    assert Message.objects.filter(role="user").count() == sum("input" in e for e in demo.event_records())
    assert Conversation.objects.exists()
    # PII in what users typed is redacted for the tenants that ask for it.
    redacting = Tenant.objects.filter(redact_pii=True)
    assert not Message.objects.filter(tenant__in=redacting, content__contains="@example.com").exists()
    assert Message.objects.exclude(tenant__in=redacting).filter(content__contains="@example.com").exists()


def test_it_prints_each_story_and_where_to_see_it(loaded, db):
    _, output, _ = loaded
    for start in ("latency incident:", "error burst:", "over budget:", "jailbreak wave:", "failing release:"):
        assert f"  - {start}" in output
    assert "/latency/?route=/chat/answer&range=custom" in output
    assert "unknown cost: llama-3.1-70b (self-hosted)" in output


def test_it_stores_a_latency_incident_on_one_route(loaded, db):
    story = loaded[0].story
    p95 = "percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)"
    inside, outside = sql(
        f"SELECT {p95} FILTER (WHERE ts >= %s AND ts < %s), {p95} FILTER (WHERE NOT (ts >= %s AND ts < %s)) "
        "FROM telemetry_event WHERE route = %s AND NOT cache_hit",
        [*window_sql(story.incident), *window_sql(story.incident), story.incident_route],
    )[0]
    assert inside > 3 * outside


def test_it_stores_an_error_burst_on_one_model(loaded, db):
    story = loaded[0].story
    rows = sql(
        "SELECT ts >= %s AND ts < %s, avg((status IN ('error', 'timeout'))::int), count(*) "
        "FROM telemetry_event WHERE model = %s GROUP BY 1",
        [*window_sql(story.burst), story.burst_model],
    )
    rates = {inside: (float(rate), count) for inside, rate, count in rows}
    assert rates[True][0] > 0.5
    assert rates[True][1] >= 50
    assert rates[False][0] < 0.05


def test_it_stores_a_tenant_over_its_budgets(loaded, db):
    story = loaded[0].story
    tenant = Tenant.objects.get(slug=loaded[0].slugs[story.budget_tenant])
    day = datetime.fromtimestamp(story.budget_day_ms / 1000, UTC)
    today, month = sql(
        "SELECT sum(cost_usd) FILTER (WHERE ts >= %s), sum(cost_usd) FROM telemetry_event "
        "WHERE tenant_id = %s AND ts >= %s AND ts < %s",
        [day, tenant.id, day.replace(day=1), day + timedelta(days=1)],
    )[0]
    assert today > tenant.daily_budget_usd
    assert month > tenant.monthly_budget_usd
    within = sql(
        "SELECT t.slug FROM tenants_tenant t JOIN telemetry_event e ON e.tenant_id = t.id "
        "WHERE t.id <> %s AND e.ts >= %s AND e.ts < %s GROUP BY t.slug, t.daily_budget_usd "
        "HAVING sum(e.cost_usd) > t.daily_budget_usd",
        [tenant.id, day, day + timedelta(days=1)],
    )
    assert within == []


def test_it_stores_a_jailbreak_wave_against_one_tenant(loaded, db):
    demo = loaded[0]
    story = demo.story
    attacks = SafetyFlag.objects.filter(kind__in=["jailbreak", "prompt_injection"])
    start, end = window_sql(story.wave)
    target = attacks.filter(tenant__slug=demo.slugs[story.wave_tenant], ts__gte=start, ts__lt=end)
    assert target.count() >= 60
    assert target.filter(kind="prompt_injection").exists()
    # The wave's own flags are high or critical; the tenant's everyday flags (low, medium)
    # may fall in those three hours too.
    assert target.filter(severity__in=["high", "critical"]).count() >= 0.95 * target.count()
    # Everything else in the data together is a fraction of those three hours.
    assert attacks.count() - target.count() < target.count() / 2


def test_it_stores_a_prompt_version_that_fails_its_golden_evals(loaded, db):
    story = loaded[0].story
    golden = EvalResult.objects.filter(suite="golden", prompt_id=story.regressing_prompt)

    def pass_rate(version):
        rows = golden.filter(prompt_version=version)
        return rows.filter(passed=True).count() / rows.count()

    assert pass_rate(story.good_version) > 0.85
    assert pass_rate(story.bad_version) < 0.65
    errors = dict(
        sql(
            "SELECT prompt_version, avg((status = 'error')::int) FROM telemetry_event WHERE prompt_id = %s GROUP BY 1",
            [story.regressing_prompt],
        )
    )
    assert errors[story.bad_version] > 3 * errors[story.good_version]


def test_it_raises_the_alerts_its_stories_call_for(loaded, db):
    from opsdash.alerts.models import Alert, Slo

    demo, output, _ = loaded
    story = demo.story
    now = timezone.now()
    budget_slug = demo.slugs[story.budget_tenant]
    # The over-budget tenant: its budgets at 100 % (when the overspent day is today, this month).
    budget_day = datetime.fromtimestamp(story.budget_day_ms / 1000, UTC)
    expected = {"budget.daily"} if budget_day.date() == now.date() else set()
    if (budget_day.year, budget_day.month) == (now.year, now.month):
        expected.add("budget.monthly")
    over = Alert.objects.filter(tenant__slug=budget_slug, rule__startswith="budget.").exclude(state="resolved")
    assert {a.rule for a in over} == expected
    assert all(a.level == 100 and a.severity == "critical" and a.path.startswith("/cost/?tenant=") for a in over)
    assert not Alert.objects.filter(level__gte=100).exclude(tenant__slug=budget_slug).exists()
    # The latency incident: an SLO on its route; its fast burn alert opened during the incident,
    # and every alert of the SLO resolved after it. Fast burn looks back an hour, so a few
    # slow requests among the handful in a 5-minute window just after the incident may
    # raise it again then (seen with some anchors); the slow burn looks back 6 hours.
    slo = Slo.objects.get(route=story.incident_route, tenant=None)
    start, end = window_sql(story.incident)
    fast = Alert.objects.filter(slo=slo, rule="slo.burn_fast")
    assert any(start <= alert.opened_at < end for alert in fast)
    assert all(start <= alert.opened_at < end + timedelta(hours=1) for alert in fast)
    for alert in Alert.objects.filter(slo=slo):
        assert start <= alert.opened_at < end + timedelta(hours=6)
        assert alert.state == "resolved"
        assert alert.resolved_at > alert.opened_at
        assert alert.path.startswith(f"/latency/?route={story.incident_route}")
    # The failing release.
    failing = Alert.objects.get(rule="eval.failing")
    assert failing.state == "open"
    assert failing.subject == f"prompt:{story.regressing_prompt}@{story.bad_version}"
    assert "see /alerts/" in output


def test_it_leaves_existing_data_alone_with_if_empty(loaded, db):
    demo = loaded[0]
    out = StringIO()
    call_command("seed_demo", "--if-empty", stdout=out)
    assert out.getvalue() == "seed_demo: tenants already exist; leaving the data as it is.\n"
    assert Event.objects.count() == demo.event_count


def test_it_refuses_to_seed_over_demo_tenants(loaded, db):
    with pytest.raises(CommandError, match="already exist; seed an empty database"):
        load(loaded[0].anchor)
    assert Tenant.objects.count() == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--events", "10"), "--events must be between 1,000 and 20,000,000, got 10"),
        (("--tenants", "0"), "--tenants must be between 1 and 500, got 0"),
        (("--days", "200"), "reaches past the event retention"),
        (("--anchor", "yesterday"), "is not an ISO 8601 time"),
        (("--anchor", "2999-01-01T00:00+00:00"), "is in the future"),
    ],
)
def test_it_rejects_sizes_it_cannot_load(db, args, message):
    before = Tenant.objects.count()
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("seed_demo", *args, stdout=StringIO())
    assert Tenant.objects.count() == before


def test_it_loads_the_same_data_again_into_a_fresh_database(loaded, transactional_db):
    """Runs last (pytest-django orders transactional tests after the others): it empties
    the database the tests above read."""
    demo, _, first = loaded
    empty_everything()
    load(demo.anchor)
    assert fingerprint() == first
    assert first[0][0] == demo.event_count
