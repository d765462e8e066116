"""The Event contract's field rules: each bad record is rejected with its field, nothing
of it is stored, and the good records of the same batch are."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from opsdash.ingest.events import ingest_events
from opsdash.telemetry.models import Event
from tests.telemetry.factories import counts, make_event, post_events, rfc3339, without

REQUIRED = ["event_id", "ts", "tenant", "route", "model", "status", "latency_ms", "input_tokens", "output_tokens"]


@pytest.fixture
def baseline(acme):
    return counts()


def rejected_alone(record: object) -> tuple[str, str]:
    """Send ``record`` after a good event; return the (field, error) of its rejection."""
    good = make_event()
    result = ingest_events([good, record])
    assert result.accepted == 1, result
    assert len(result.rejected) == 1, result
    [rejection] = result.rejected
    assert rejection.index == 1
    assert Event.objects.filter(event_id=good["event_id"]).count() == 1
    return rejection.field, rejection.error


@pytest.mark.parametrize("name", REQUIRED)
def test_it_rejects_an_event_missing_a_required_field(baseline, name):
    assert rejected_alone(without(make_event(), name)) == (name, "is required")
    assert counts()["events"] == baseline["events"] + 1


@pytest.mark.parametrize("name", REQUIRED)
def test_it_treats_null_as_missing(baseline, name):
    assert rejected_alone(make_event(**{name: None})) == (name, "is required")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("event_id", 17, "must be a string, got an integer"),
        ("ts", 1735689600, "must be an RFC 3339 timestamp string, got an integer"),
        ("tenant", ["acme"], "must be a tenant slug string, got a list"),
        ("route", {"path": "/chat"}, "must be a string, got an object"),
        ("model", True, "must be a string, got a boolean"),
        ("status", 200, "must be one of ok, error, timeout, rate_limited, blocked; got an integer"),
        ("latency_ms", "420", "must be a number, got a string"),
        ("latency_ms", True, "must be a number, got a boolean"),
        ("ttft_ms", "10", "must be a number, got a string"),
        ("input_tokens", 12.5, "must be an integer, got a number"),
        ("input_tokens", "12", "must be an integer, got a string"),
        ("output_tokens", False, "must be an integer, got a boolean"),
        ("cost_usd", "0.01", "must be a number, got a string"),
        ("cost_usd", True, "must be a number, got a boolean"),
        ("cache_hit", "yes", "must be true or false, got a string"),
        ("cache_hit", 1, "must be true or false, got an integer"),
        ("provider", 3, "must be a string, got an integer"),
        ("prompt_id", ["p"], "must be a string, got a list"),
        ("prompt_version", 2, "must be a string, got an integer"),
        ("conversation_id", 9, "must be a string, got an integer"),
        ("trace_id", 1.5, "must be a string, got a number"),
        ("user", 42, "must be a string, got an integer"),
        ("input", ["hi"], "must be a string, got a list"),
        ("output", {"text": "hi"}, "must be a string, got an object"),
        ("safety", "jailbreak", "must be a list, got a string"),
    ],
)
def test_it_rejects_a_field_of_the_wrong_type(baseline, name, value, message):
    assert rejected_alone(make_event(**{name: value})) == (name, message)


@pytest.mark.parametrize(
    ("flag", "field", "message"),
    [
        ("jailbreak", "safety[0]", "must be an object with kind, severity and detail, got a string"),
        ({"severity": "high"}, "safety[0].kind", "is required"),
        ({"kind": "x" * 51, "severity": "high"}, "safety[0].kind", "must be 1 to 50 characters, got 51"),
        (
            {"kind": "jailbreak", "severity": "severe"},
            "safety[0].severity",
            "must be one of low, medium, high, critical; got 'severe'",
        ),
        ({"kind": "jailbreak"}, "safety[0].severity", "must be one of low, medium, high, critical; got null"),
        ({"kind": "pii", "severity": "low", "detail": 5}, "safety[0].detail", "must be a string, got an integer"),
    ],
)
def test_it_rejects_a_bad_safety_flag(baseline, flag, field, message):
    assert rejected_alone(make_event(safety=[flag])) == (field, message)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("latency_ms", -1),
        ("latency_ms", 3_600_001),
        ("ttft_ms", -0.5),
        ("input_tokens", -1),
        ("input_tokens", 100_000_001),
        ("output_tokens", 10**30),
        ("cost_usd", -0.01),
        ("cost_usd", 1_000_001),
    ],
)
def test_it_rejects_numbers_out_of_range(baseline, name, value):
    field, error = rejected_alone(make_event(**{name: value}))
    assert field == name
    assert error.startswith("must be between")


def test_it_accepts_numbers_at_their_limits(baseline):
    result = ingest_events(
        [
            make_event(latency_ms=0, ttft_ms=0, input_tokens=0, output_tokens=0, cost_usd=0),
            make_event(latency_ms=3_600_000, ttft_ms=3_600_000, input_tokens=100_000_000, output_tokens=100_000_000),
        ]
    )
    assert result.accepted == 2, result.rejected


@pytest.mark.parametrize("name", ["latency_ms", "ttft_ms", "cost_usd"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_it_rejects_nan_and_infinity(baseline, name, value):
    field, error = rejected_alone(make_event(**{name: value}))
    assert field == name
    assert "finite" in error


def test_it_rejects_ttft_above_latency(baseline):
    assert rejected_alone(make_event(latency_ms=100, ttft_ms=100.5)) == (
        "ttft_ms",
        "must not exceed latency_ms (100), got 100.5",
    )


@pytest.mark.parametrize(
    "ts",
    [
        "2025-01-31T12:00:00",  # no offset
        "2025-01-31",
        "2025-01-31T12:00Z",
        "31/01/2025 12:00:00 +00:00",
        "yesterday",
        "",
    ],
)
def test_it_rejects_timestamps_that_are_not_rfc3339_with_offset(baseline, ts):
    field, error = rejected_alone(make_event(ts=ts))
    assert field == "ts"
    assert "RFC 3339" in error


def test_it_rejects_impossible_timestamps(baseline):
    assert rejected_alone(make_event(ts="2025-02-30T10:00:00Z"))[0] == "ts"
    assert rejected_alone(make_event(ts="2025-01-31T10:00:61Z"))[0] == "ts"


def test_it_rejects_timestamps_far_in_the_future(baseline):
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=4)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6)
    assert ingest_events([make_event(ts=rfc3339(soon))]).accepted == 1
    assert rejected_alone(make_event(ts=rfc3339(later))) == ("ts", "is more than 5 minutes in the future")


def test_it_rejects_timestamps_past_retention(baseline, settings):
    settings.OPSDASH_EVENT_RETENTION_DAYS = 10
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=11)
    assert rejected_alone(make_event(ts=rfc3339(old))) == ("ts", "is older than the retention (10 days)")


def test_it_reads_offsets_and_stores_utc(baseline):
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    event = make_event(ts=moment.astimezone(dt.timezone(dt.timedelta(hours=-5))).isoformat())
    assert event["ts"].endswith("-05:00")
    assert ingest_events([event]).accepted == 1
    assert Event.objects.get(event_id=event["event_id"]).ts == moment


def test_it_rejects_an_unknown_tenant(baseline):
    assert rejected_alone(make_event(tenant="umbrella")) == ("tenant", "unknown tenant 'umbrella'")


def test_it_rejects_an_unknown_status(baseline):
    field, error = rejected_alone(make_event(status="OK"))
    assert field == "status"
    assert "got 'OK'" in error


@pytest.mark.parametrize(
    ("name", "limit"),
    [
        ("event_id", 128),
        ("route", 200),
        ("model", 200),
        ("provider", 100),
        ("prompt_id", 200),
        ("prompt_version", 100),
        ("conversation_id", 200),
        ("trace_id", 128),
        ("user", 256),
    ],
)
def test_it_rejects_strings_over_their_limit(baseline, name, limit):
    assert ingest_events([make_event(**{name: "x" * limit})]).accepted == 1
    assert rejected_alone(make_event(**{name: "x" * (limit + 1)})) == (
        name,
        f"must be 1 to {limit} characters, got {limit + 1}",
    )


@pytest.mark.parametrize("name", ["event_id", "route", "model", "provider"])
def test_it_rejects_empty_strings(baseline, name):
    field, error = rejected_alone(make_event(**{name: ""}))
    assert field == name
    assert error.endswith("characters, got 0")


def test_it_rejects_message_text_over_its_limit(baseline):
    field, error = rejected_alone(make_event(input="x" * 100_001))
    assert (field, error) == ("input", "must be at most 100,000 characters, got 100,001")


@pytest.mark.parametrize("name", ["route", "input", "event_id"])
def test_it_rejects_text_the_database_cannot_store(baseline, name):
    assert rejected_alone(make_event(**{name: "a\x00b"})) == (name, "must not contain NUL characters")
    assert rejected_alone(make_event(**{name: "a\ud800b"}))[0] == name


def test_it_rejects_a_record_that_is_not_an_object(baseline):
    assert rejected_alone(["event"]) == ("event", "must be an object, got a list")
    assert rejected_alone(None) == ("event", "must be an object, got null")


def test_it_ignores_fields_it_does_not_know(baseline):
    assert ingest_events([make_event(region="eu-west-1")]).accepted == 1


def test_it_reports_every_rejection_over_http(client, ingest_secret, baseline):
    events = [make_event(), make_event(latency_ms=-5), make_event(), without(make_event(), "route")]
    response = post_events(client, ingest_secret, events)
    assert response.status_code == 207
    body = response.json()
    assert body["accepted"] == 2
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [(1, "latency_ms"), (3, "route")]
    assert counts()["events"] == baseline["events"] + 2
