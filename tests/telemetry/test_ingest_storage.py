"""What an accepted event leaves behind: one raw row, its cost, hashed user, safety flags,
conversation and messages — once, however often it is sent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from opsdash.ingest.events import ingest_events
from opsdash.knowledge.models import Conversation, Message
from opsdash.lib.hashing import keyed_hash
from opsdash.safety.models import SafetyFlag
from opsdash.telemetry import partitions
from opsdash.telemetry.models import Event, ModelPrice
from tests.telemetry.factories import counts, make_event, rfc3339, scalar


@pytest.fixture
def baseline(acme, globex):
    return counts()


def stored(event: dict) -> Event:
    return Event.objects.get(event_id=event["event_id"])


def test_it_counts_a_duplicate_inside_one_batch(baseline):
    event = make_event()
    result = ingest_events([event, dict(event, latency_ms=999.0)])
    assert (result.accepted, result.duplicates, result.rejected) == (1, 1, [])
    assert stored(event).latency_ms == 420.5
    assert counts()["events"] == baseline["events"] + 1


def test_it_changes_nothing_when_a_batch_is_retried(baseline):
    batch = [
        make_event(input="hi", output="hello", safety=[{"kind": "jailbreak", "severity": "high", "detail": "x"}]),
        make_event(conversation_id="c-1", input="again"),
        make_event(status="nope"),
    ]
    first = ingest_events(batch)
    after_first = counts()
    second = ingest_events(batch)
    assert (first.accepted, first.duplicates, len(first.rejected)) == (2, 0, 1)
    assert (second.accepted, second.duplicates, len(second.rejected)) == (0, 2, 1)
    assert counts() == after_first
    assert after_first["events"] == baseline["events"] + 2
    assert after_first["flags"] == baseline["flags"] + 1
    assert after_first["messages"] == baseline["messages"] + 3


def test_it_keeps_event_ids_apart_per_tenant(baseline):
    result = ingest_events([make_event(event_id="same"), make_event(tenant="globex", event_id="same")])
    assert result.accepted == 2
    assert Event.objects.filter(event_id="same").count() == 2


def test_it_creates_the_partition_of_a_backfilled_day(baseline):
    day = dt.datetime.now(dt.UTC) - dt.timedelta(days=20)
    event = make_event(ts=rfc3339(day))
    assert ingest_events([event]).accepted == 1
    assert day.date() in partitions.existing_days()
    assert stored(event).ts.date() == day.date()


# --- Cost -------------------------------------------------------------------------------------


def price(model: str, provider: str, per_in: str, per_out: str, since: dt.datetime) -> ModelPrice:
    return ModelPrice.objects.create(
        model=model,
        provider=provider,
        input_usd_per_mtok=Decimal(per_in),
        output_usd_per_mtok=Decimal(per_out),
        effective_from=since,
    )


def test_it_computes_cost_from_the_price_in_force_at_the_event(baseline):
    now = dt.datetime.now(dt.UTC)
    price("gpt-4o-mini", "", "0.15", "0.60", now - dt.timedelta(days=30))
    price("gpt-4o-mini", "", "0.30", "1.20", now - dt.timedelta(hours=1))
    old = make_event(ts=rfc3339(now - dt.timedelta(hours=2)), input_tokens=1_000_000, output_tokens=500_000)
    new = make_event(ts=rfc3339(now - dt.timedelta(minutes=5)), input_tokens=1_000_000, output_tokens=500_000)
    assert ingest_events([old, new]).accepted == 2
    assert stored(old).cost_usd == Decimal("0.45")  # 0.15 + 0.5 * 0.60
    assert stored(new).cost_usd == Decimal("0.90")


def test_it_prefers_the_providers_own_price(baseline):
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    price("llama-3", "", "1", "1", since)
    price("llama-3", "groq", "0.5", "0.5", since)
    groq = make_event(model="llama-3", provider="groq", input_tokens=2_000_000, output_tokens=0)
    other = make_event(model="llama-3", provider="together", input_tokens=2_000_000, output_tokens=0)
    ingest_events([groq, other])
    assert stored(groq).cost_usd == Decimal("1")
    assert stored(other).cost_usd == Decimal("2")


def test_it_leaves_cost_unknown_without_a_price(baseline):
    price("gpt-4o-mini", "", "0.15", "0.60", dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    unpriced = make_event(model="homegrown-7b")
    not_yet = make_event()
    ingest_events([unpriced, not_yet])
    assert stored(unpriced).cost_usd is None
    assert stored(not_yet).cost_usd is None


def test_it_keeps_the_cost_the_producer_sent(baseline):
    price("gpt-4o-mini", "", "100", "100", dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    sent = make_event(cost_usd=0.1)
    free = make_event(cost_usd=0)
    ingest_events([sent, free])
    assert stored(sent).cost_usd == Decimal("0.1")
    assert stored(free).cost_usd == Decimal("0")


# --- Users, safety flags, conversations ---------------------------------------------------


def test_it_stores_the_user_only_as_a_keyed_hash(baseline):
    event = make_event(user="jane@example.com", input="hi")
    ingest_events([event])
    row = stored(event)
    assert row.user_hash == keyed_hash("jane@example.com")
    assert "jane" not in row.user_hash
    conversation = Conversation.objects.get(messages__event_id=event["event_id"])
    assert conversation.user_hash == keyed_hash("jane@example.com")


def test_it_creates_safety_flags(baseline, acme):
    event = make_event(
        conversation_id="conv-9",
        route="/support",
        safety=[
            {"kind": "jailbreak", "severity": "high", "detail": "ignore previous instructions"},
            {"kind": "toxicity", "severity": "low"},
        ],
    )
    ingest_events([event])
    flags = SafetyFlag.objects.filter(event_id=event["event_id"]).order_by("kind")
    assert [(f.kind, f.severity, f.excerpt) for f in flags] == [
        ("jailbreak", "high", "ignore previous instructions"),
        ("toxicity", "low", ""),
    ]
    assert {(f.tenant, f.conversation_id, f.route) for f in flags} == {(acme, "conv-9", "/support")}
    assert stored(event).safety_count == 2


def test_it_redacts_flag_excerpts_when_the_tenant_asks(baseline, acme):
    acme.redact_pii = True
    acme.save()
    detail = "user leaked jane@example.com and sk-proj-abcdefghijklmnopqrstuv"
    ingest_events([make_event(safety=[{"kind": "pii", "severity": "medium", "detail": detail}])])
    ingest_events([make_event(tenant="globex", safety=[{"kind": "pii", "severity": "medium", "detail": detail}])])
    assert SafetyFlag.objects.get(tenant=acme).excerpt == "user leaked [email] and [secret]"
    assert SafetyFlag.objects.get(tenant__slug="globex").excerpt == detail


def test_it_stores_messages_in_the_conversation(baseline, acme):
    first = make_event(conversation_id="c-42", input="What is my balance?", output="It is 12 EUR.")
    second = make_event(conversation_id="c-42", input="Thanks")
    ingest_events([first])
    ingest_events([second])
    conversation = Conversation.objects.get(tenant=acme, external_id="c-42")
    messages = list(conversation.messages.order_by("id").values_list("role", "content", "event_id"))
    assert messages == [
        ("user", "What is my balance?", first["event_id"]),
        ("assistant", "It is 12 EUR.", first["event_id"]),
        ("user", "Thanks", second["event_id"]),
    ]
    assert conversation.started_at <= conversation.last_message_at


def test_it_gives_an_event_without_conversation_id_its_own_conversation(baseline, acme):
    a, b = make_event(input="one"), make_event(output="two")
    ingest_events([a, b])
    assert Conversation.objects.filter(tenant=acme).count() == 2
    assert Message.objects.get(event_id=b["event_id"]).role == "assistant"


def test_it_writes_no_conversation_for_an_event_without_text(baseline):
    ingest_events([make_event(conversation_id="c-1")])
    assert counts()["conversations"] == baseline["conversations"]


def test_it_redacts_messages_when_the_tenant_asks(baseline, acme):
    acme.redact_pii = True
    acme.save()
    text = "Card 4111 1111 1111 1111, call me on +44 20 7946 0958 or mail a.b@example.org"
    ingest_events([make_event(input=text), make_event(tenant="globex", input=text)])
    assert Message.objects.get(tenant=acme).content == "Card [card], call me on [phone] or mail [email]"
    assert Message.objects.get(tenant__slug="globex").content == text


def test_it_stores_every_field_of_the_contract(baseline, acme):
    event = make_event(
        prompt_id="support-answer",
        prompt_version="v7",
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        cache_hit=True,
        status="rate_limited",
        cost_usd=0.0042,
    )
    ingest_events([event])
    row = stored(event)
    assert (row.tenant, row.route, row.model, row.provider) == (acme, "/chat", "gpt-4o-mini", "openai")
    assert (row.prompt_id, row.prompt_version, row.trace_id) == ("support-answer", "v7", event["trace_id"])
    assert (row.status, row.cache_hit, row.cost_usd) == ("rate_limited", True, Decimal("0.0042"))
    assert (row.latency_ms, row.ttft_ms, row.input_tokens, row.output_tokens) == (420.5, 110.0, 1200, 300)
    assert row.xid == int(scalar("SELECT pg_current_xact_id()::text::bigint"))
