"""How an OTLP span becomes an opsdash event: attribute sources, precedence, skipping,
status and timing. Pure mapping, no database."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

from opsdash.ingest import semconv
from opsdash.ingest.otlp import SpanRejected, describe_rejections, map_export, span_to_event

T0 = 1_767_225_600_123_456_789  # 2026-01-01T00:00:00.123456789Z
TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")
GEN_AI = {
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.provider.name": "openai",
    "gen_ai.usage.input_tokens": 120,
    "gen_ai.usage.output_tokens": 40,
    "opsdash.tenant": "acme",
    "opsdash.route": "support/chat",
}


def any_value(value) -> AnyValue:
    if isinstance(value, AnyValue):
        return value
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        out = AnyValue()
        out.array_value.values.extend(any_value(v) for v in value)
        return out
    if isinstance(value, dict):
        out = AnyValue()
        out.kvlist_value.values.extend(key_values(value))
        return out
    return AnyValue(string_value=value)


def key_values(attributes: dict) -> list[KeyValue]:
    return [KeyValue(key=key, value=any_value(value)) for key, value in attributes.items()]


def make_span(
    attributes: dict | None = None,
    *,
    name: str = "chat gpt-4o",
    start_ns: int = T0,
    duration_ms: float = 250.0,
    status_code: int = Status.StatusCode.STATUS_CODE_UNSET,
    status_message: str = "",
    trace_id: bytes = TRACE_ID,
    span_id: bytes = SPAN_ID,
) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        name=name,
        kind=Span.SpanKind.SPAN_KIND_CLIENT,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + int(duration_ms * 1_000_000),
        attributes=key_values(GEN_AI if attributes is None else attributes),
        status=Status(code=status_code, message=status_message),
    )


def make_export(*groups: tuple[dict, list[Span]]) -> ExportTraceServiceRequest:
    """An export request; each group is (resource attributes, spans)."""
    export = ExportTraceServiceRequest()
    for resource, spans in groups:
        resource_spans = ResourceSpans()
        resource_spans.resource.attributes.extend(key_values(resource))
        resource_spans.scope_spans.add().spans.extend(spans)
        export.resource_spans.append(resource_spans)
    return export


def event(attributes: dict | None = None, resource: dict | None = None, **span) -> dict:
    record = span_to_event(make_span(attributes, **span), {kv.key: kv.value for kv in key_values(resource or {})})
    assert record is not None
    return record


def rejection(attributes: dict, **span) -> SpanRejected:
    with pytest.raises(SpanRejected) as caught:
        span_to_event(make_span(attributes, **span))
    return caught.value


def test_it_maps_a_gen_ai_span_to_an_event():
    assert event() == {
        "event_id": "5b8efff798038103d269b633813fc60c:eee19b7ec3c1b174",
        "ts": "2026-01-01T00:00:00.123456+00:00",
        "tenant": "acme",
        "route": "support/chat",
        "model": "gpt-4o",
        "provider": "openai",
        "status": "ok",
        "latency_ms": 250.0,
        "input_tokens": 120,
        "output_tokens": 40,
        "trace_id": "5b8efff798038103d269b633813fc60c",
    }


def test_it_prefers_the_response_model_over_the_request_model():
    assert event({**GEN_AI, "gen_ai.response.model": "gpt-4o-2024-08-06"})["model"] == "gpt-4o-2024-08-06"


def test_it_reads_openinference_attributes():
    record = event(
        {
            "llm.model_name": "claude-sonnet-4",
            "llm.provider": "anthropic",
            "llm.token_count.prompt": 900,
            "llm.token_count.completion": 75,
            "opsdash.tenant": "acme",
        }
    )
    assert (record["model"], record["provider"]) == ("claude-sonnet-4", "anthropic")
    assert (record["input_tokens"], record["output_tokens"]) == (900, 75)


def test_it_prefers_gen_ai_attributes_over_openinference_ones():
    record = event({**GEN_AI, "llm.model_name": "other", "llm.token_count.prompt": 1, "llm.provider": "azure"})
    assert (record["model"], record["input_tokens"], record["provider"]) == ("gpt-4o", 120, "openai")


def test_it_reads_the_provider_from_gen_ai_system():
    attributes = {k: v for k, v in GEN_AI.items() if k != "gen_ai.provider.name"}
    assert event({**attributes, "gen_ai.system": "anthropic"})["provider"] == "anthropic"
    assert event({**GEN_AI, "gen_ai.system": "anthropic"})["provider"] == "openai"


def test_it_reads_the_deprecated_usage_names():
    attributes = {"gen_ai.request.model": "m", "opsdash.tenant": "acme"}
    record = event({**attributes, "gen_ai.usage.prompt_tokens": 7, "gen_ai.usage.completion_tokens": 3})
    assert (record["input_tokens"], record["output_tokens"]) == (7, 3)


def test_it_falls_back_to_resource_attributes():
    span_attributes = {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 5}
    record = event(span_attributes, resource={"opsdash.tenant": "globex", "opsdash.route": "batch/summarise"})
    assert (record["tenant"], record["route"]) == ("globex", "batch/summarise")


def test_it_lets_span_attributes_win_over_resource_attributes():
    record = event(GEN_AI, resource={"opsdash.tenant": "globex", "gen_ai.request.model": "resource-model"})
    assert (record["tenant"], record["model"]) == ("acme", "gpt-4o")


def test_it_uses_the_span_name_as_route_when_opsdash_route_is_absent():
    attributes = {k: v for k, v in GEN_AI.items() if k != "opsdash.route"}
    assert event(attributes, name="chat gpt-4o")["route"] == "chat gpt-4o"


def test_it_reads_the_optional_opsdash_fields():
    record = event(
        {
            **GEN_AI,
            "opsdash.prompt_id": "refund-policy",
            "opsdash.prompt_version": 7,
            "opsdash.conversation_id": "conv-1",
            "opsdash.user": "user-42",
            "opsdash.cache_hit": True,
            "gen_ai.usage.cost": 0.0125,
        }
    )
    assert record["prompt_id"] == "refund-policy"
    assert record["prompt_version"] == "7"
    assert (record["conversation_id"], record["user"]) == ("conv-1", "user-42")
    assert record["cache_hit"] is True
    assert record["cost_usd"] == pytest.approx(0.0125)


def test_it_reads_conversation_and_user_from_other_conventions():
    record = event({**GEN_AI, "gen_ai.conversation.id": "c-9", "user.id": "u-9"})
    assert (record["conversation_id"], record["user"]) == ("c-9", "u-9")


def test_it_leaves_cost_out_when_the_span_has_none():
    # Ingest prices the call from the model price table when cost_usd is absent.
    assert "cost_usd" not in event()
    assert "cache_hit" not in event()


def test_it_counts_missing_usage_as_zero_tokens():
    record = event({"gen_ai.request.model": "gpt-4o", "opsdash.tenant": "acme"})
    assert (record["input_tokens"], record["output_tokens"]) == (0, 0)


def test_it_accepts_numbers_sent_as_strings_or_doubles():
    record = event({**GEN_AI, "gen_ai.usage.input_tokens": "300", "gen_ai.usage.output_tokens": 12.0})
    assert (record["input_tokens"], record["output_tokens"]) == (300, 12)
    assert event({**GEN_AI, "gen_ai.usage.cost": "0.5", "opsdash.cache_hit": "false"})["cache_hit"] is False


def test_it_measures_latency_from_start_to_end():
    record = event(start_ns=T0, duration_ms=1234.567)
    assert record["latency_ms"] == pytest.approx(1234.567, abs=0.001)
    assert record["ts"] == "2026-01-01T00:00:00.123456+00:00"


def test_it_converts_time_to_first_token_from_seconds():
    assert event({**GEN_AI, "gen_ai.server.time_to_first_token": 0.42})["ttft_ms"] == pytest.approx(420)
    assert event({**GEN_AI, "gen_ai.response.time_to_first_chunk": 1})["ttft_ms"] == pytest.approx(1000)
    assert "ttft_ms" not in event()


@pytest.mark.parametrize(
    ("code", "message", "extra", "status"),
    [
        (Status.StatusCode.STATUS_CODE_UNSET, "", {}, "ok"),
        (Status.StatusCode.STATUS_CODE_OK, "", {}, "ok"),
        (Status.StatusCode.STATUS_CODE_ERROR, "upstream returned 500", {}, "error"),
        (Status.StatusCode.STATUS_CODE_ERROR, "Request timed out.", {}, "timeout"),
        (Status.StatusCode.STATUS_CODE_ERROR, "", {"error.type": "openai.APITimeoutError"}, "timeout"),
        (Status.StatusCode.STATUS_CODE_ERROR, "", {"error.type": "DEADLINE_EXCEEDED"}, "timeout"),
        (Status.StatusCode.STATUS_CODE_ERROR, "", {"error.type": "RateLimitError"}, "rate_limited"),
        (Status.StatusCode.STATUS_CODE_ERROR, "", {"http.response.status_code": 429}, "rate_limited"),
        # An error type on a span that did not fail does not make it an error.
        (Status.StatusCode.STATUS_CODE_UNSET, "", {"error.type": "TimeoutError"}, "ok"),
    ],
)
def test_it_maps_the_span_status(code, message, extra, status):
    assert event({**GEN_AI, **extra}, status_code=code, status_message=message)["status"] == status


def test_it_makes_the_event_id_from_trace_and_span_ids():
    first = event(span_id=bytes.fromhex("0000000000000001"))
    second = event(span_id=bytes.fromhex("0000000000000002"))
    assert first["event_id"] != second["event_id"]
    assert event(span_id=bytes.fromhex("0000000000000001"))["event_id"] == first["event_id"]


def test_it_skips_spans_without_a_model_attribute():
    http_span = make_span({"http.request.method": "POST", "opsdash.tenant": "acme"}, name="POST /chat")
    empty_model = make_span({**GEN_AI, "gen_ai.request.model": ""})
    mapped = map_export(make_export(({}, [http_span, make_span(), empty_model])))
    assert mapped.skipped == 2
    assert [record["model"] for record in mapped.records] == ["gpt-4o"]
    assert mapped.rejected == []


def test_it_maps_spans_across_resources_with_their_own_attributes():
    span = make_span({"gen_ai.request.model": "gpt-4o"})
    mapped = map_export(make_export(({"opsdash.tenant": "acme"}, [span]), ({"opsdash.tenant": "globex"}, [span])))
    assert [record["tenant"] for record in mapped.records] == ["acme", "globex"]


def test_it_rejects_a_span_without_a_tenant():
    attributes = {k: v for k, v in GEN_AI.items() if k != "opsdash.tenant"}
    assert str(rejection(attributes)) == "tenant: no opsdash.tenant attribute on the span or its resource"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "gen_ai.usage.input_tokens",
            [1, 2],
            "input_tokens: gen_ai.usage.input_tokens must be an integer, not an array",
        ),
        ("gen_ai.usage.output_tokens", "many", "output_tokens: gen_ai.usage.output_tokens must be an integer"),
        ("gen_ai.usage.cost", "cheap", "cost_usd: gen_ai.usage.cost must be a finite number"),
        ("gen_ai.usage.cost", math.nan, "cost_usd: gen_ai.usage.cost must be a finite number"),
        ("opsdash.cache_hit", "maybe", "cache_hit: opsdash.cache_hit must be a boolean"),
        ("opsdash.tenant", {"slug": "acme"}, "tenant: opsdash.tenant must be a string, not a map"),
        ("gen_ai.request.model", True, "model: gen_ai.request.model must be a string, not a bool"),
        ("opsdash.route", "a\x00b", "route: must not contain NUL characters"),
        ("opsdash.tenant", "ac\x00me", "tenant: must not contain NUL characters"),
    ],
)
def test_it_rejects_attributes_of_the_wrong_type(name, value, message):
    assert str(rejection({**GEN_AI, name: value})).startswith(message)


def test_it_rejects_a_span_that_ends_before_it_starts():
    assert rejection(GEN_AI, duration_ms=-5).field == "latency_ms"


def test_it_rejects_a_span_without_times():
    assert rejection(GEN_AI, start_ns=0).field == "ts"


@pytest.mark.parametrize(
    ("trace_id", "span_id", "field"),
    [(b"", SPAN_ID, "trace_id"), (bytes(16), SPAN_ID, "trace_id"), (TRACE_ID, b"\x01", "span_id")],
)
def test_it_rejects_a_span_with_invalid_ids(trace_id, span_id, field):
    assert rejection(GEN_AI, trace_id=trace_id, span_id=span_id).field == field


def test_it_collects_rejections_without_stopping():
    bad = make_span({**GEN_AI, "gen_ai.usage.input_tokens": "lots"})
    mapped = map_export(make_export(({}, [bad, make_span()])))
    assert len(mapped.records) == 1
    assert [r.field for r in mapped.rejected] == ["input_tokens"]


def test_it_describes_what_was_not_stored():
    problems = ["tenant: unknown tenant 'x'", "model: too long", "tenant: unknown tenant 'x'"]
    message = describe_rejections(3, problems)
    assert message.startswith("3 spans had no gen_ai model attribute")
    assert message.endswith("; 2 spans: tenant: unknown tenant 'x'; 1 span: model: too long")
    assert describe_rejections(0, []) == ""


def test_it_sums_up_many_different_rejections():
    message = describe_rejections(0, [f"tenant: unknown tenant 't{i}'" for i in range(15)])
    assert message.count("unknown tenant") == 10
    assert message.endswith("5 spans for 5 other reasons")


int64s = st.integers(min_value=-(2**63), max_value=2**63 - 1)
any_attribute = st.one_of(
    st.text(max_size=20),
    int64s,
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.binary(max_size=8),
    st.lists(int64s, max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)
known_names = sorted(value for name, value in vars(semconv).items() if name.isupper() and isinstance(value, str))


@settings(max_examples=300, deadline=None)
@given(
    attributes=st.dictionaries(st.sampled_from(known_names), any_attribute),
    start=st.integers(min_value=0, max_value=2**64 - 1),
    end=st.integers(min_value=0, max_value=2**64 - 1),
    code=st.integers(min_value=0, max_value=5),
    message=st.text(max_size=20),
)
def test_it_never_fails_on_odd_attribute_values(attributes, start, end, code, message):
    span = make_span({**GEN_AI, **attributes}, status_message=message)
    span.start_time_unix_nano, span.end_time_unix_nano, span.status.code = start, end, code
    try:
        record = span_to_event(span)
    except SpanRejected:
        return  # a clear rejection is a fine answer; anything else raised fails the test
    if record is not None:
        assert record["model"]
        assert record["latency_ms"] >= 0
        assert isinstance(record["input_tokens"], int)
        assert isinstance(record["output_tokens"], int)
        assert all(math.isfinite(record[key]) for key in ("latency_ms", "ttft_ms", "cost_usd") if key in record)
