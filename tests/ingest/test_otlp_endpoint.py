"""POST /v1/traces: OTLP/HTTP trace ingest in protobuf and JSON, as an exporter sees it."""

from __future__ import annotations

import base64
import gzip
import json
import time
import zlib
from decimal import Decimal

import pytest
from django.db import DatabaseError
from google.protobuf import json_format
from google.rpc.status_pb2 import Status as RpcStatus
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from opsdash.accounts.models import ApiToken
from opsdash.accounts.services import create_token
from opsdash.telemetry.models import Event
from tests.ingest.test_otlp_mapping import GEN_AI, make_export, make_span

URL = "/v1/traces"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def now_ns() -> int:
    return time.time_ns() - 60 * 1_000_000_000


def otlp_json(export: ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON as the collector and the JS SDK send it: camelCase keys, hex ids."""
    document = json_format.MessageToDict(export, use_integers_for_enums=True)
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex().upper()
    return json.dumps(document).encode()


def post(client, body: bytes, secret: str | None, content_type: str = PROTOBUF, **headers):
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    return client.post(URL, data=body, content_type=content_type, headers=headers)


def parse_response(response) -> ExportTraceServiceResponse:
    assert response.status_code == 200, response.content
    if response["Content-Type"] == PROTOBUF:
        return ExportTraceServiceResponse.FromString(response.content)
    assert response["Content-Type"] == JSON
    return json_format.Parse(response.content, ExportTraceServiceResponse())


def rpc_status(response) -> RpcStatus:
    assert response["Content-Type"] == PROTOBUF
    return RpcStatus.FromString(response.content)


# --- Authentication ----------------------------------------------------------------------


EMPTY_EXPORT = b"\x0a\x00"  # one ResourceSpans with nothing in it


def test_it_requires_a_bearer_token(client, db):
    response = post(client, EMPTY_EXPORT, None)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert "ingest token" in rpc_status(response).message


@pytest.mark.parametrize("value", ["Bearer odi_0123456789_nope", "Bearer ", "Basic dXNlcjpwYXNz", "odi_x"])
def test_it_refuses_a_wrong_token(client, ingest_secret, value):
    response = client.post(URL, data=b"{}", content_type=JSON, headers={"Authorization": value})
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_it_refuses_a_token_with_the_right_prefix_and_a_wrong_secret(client, ingest_secret):
    assert post(client, EMPTY_EXPORT, ingest_secret[:-4] + "AAAA").status_code == 401


def test_it_refuses_a_revoked_token(client, ingest_secret):
    from django.utils import timezone

    ApiToken.objects.update(revoked_at=timezone.now())
    assert post(client, EMPTY_EXPORT, ingest_secret).status_code == 401


def test_it_refuses_a_gateway_token(client, db):
    _, gateway_secret = create_token(acting_user=None, kind="gateway", name="edge")
    assert post(client, EMPTY_EXPORT, gateway_secret).status_code == 401


def test_it_only_accepts_post(client, ingest_secret):
    response = client.get(URL, headers={"Authorization": f"Bearer {ingest_secret}"})
    assert response.status_code == 405


# --- Content types, sizes, encodings -----------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-ndjson", "multipart/form-data; boundary=x"])
def test_it_refuses_other_content_types(client, ingest_secret, content_type):
    response = post(client, b"hello", ingest_secret, content_type=content_type)
    assert response.status_code == 415
    body = response.json()
    assert body["error"] == "unsupported content type"
    assert PROTOBUF in body["detail"]


def test_it_accepts_an_empty_export(client, ingest_secret):
    response = post(client, EMPTY_EXPORT, ingest_secret)
    assert response.content == b""  # an empty ExportTraceServiceResponse
    assert not parse_response(response).HasField("partial_success")
    response = post(client, b"{}", ingest_secret, content_type=JSON)
    assert response.json() == {}


def test_it_refuses_a_body_over_the_limit(client, ingest_secret, settings):
    settings.INGEST_MAX_BODY_BYTES = 2048
    body = make_export(({}, [make_span({**GEN_AI, "pad": "x" * 3000})])).SerializeToString()
    response = post(client, body, ingest_secret)
    assert response.status_code == 413
    assert "2048 bytes" in rpc_status(response).message


def test_it_refuses_a_gzip_body_that_inflates_over_the_limit(client, ingest_secret, settings):
    settings.INGEST_MAX_BODY_BYTES = 4096
    bomb = gzip.compress(b"\x00" * 1_000_000)
    assert len(bomb) < 4096
    response = post(client, bomb, ingest_secret, content_type=JSON, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert response.json()["error"] == "body too large"


def test_it_refuses_a_broken_gzip_body(client, ingest_secret):
    body = gzip.compress(b'{"resourceSpans": []}')[:-12]
    response = post(client, body, ingest_secret, content_type=JSON, **{"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid gzip body"
    response = post(client, b"not gzip at all", ingest_secret, **{"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert "gzip" in rpc_status(response).message


def test_it_refuses_an_unknown_content_encoding(client, ingest_secret):
    response = post(client, b"{}", ingest_secret, content_type=JSON, **{"Content-Encoding": "br"})
    assert response.status_code == 415
    assert "'br'" in response.json()["detail"]


# --- Bad bodies ---------------------------------------------------------------------------


def deeply_nested_export(depth: int) -> ExportTraceServiceRequest:
    export = make_export(({}, [make_span()]))
    value = export.resource_spans[0].scope_spans[0].spans[0].attributes.add(key="deep").value
    for _ in range(depth):
        value = value.array_value.values.add()
    value.string_value = "bottom"
    return export


@pytest.mark.parametrize("body", [b"\xff\xff\xff", b"\x0a\x05abc", b"{not protobuf}", "deep"])
def test_it_answers_a_body_that_is_not_protobuf_with_a_status(client, ingest_secret, body):
    if body == "deep":
        body = deeply_nested_export(300).SerializeToString()
    response = post(client, body, ingest_secret)
    assert response.status_code == 400
    assert rpc_status(response).message.startswith("invalid protobuf")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "invalid JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"resourceSpans": {"x": 1}}', "resourceSpans"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', "spans[0].traceId"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}', "startTimeUnixNano"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": "nope"}]}]}]}', "attributes"),
        (b"\xff\xfe\x00", "invalid JSON"),
        (
            b'{"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": {"stringValue": "\\ud800"}}]}}]}',
            "Unpaired surrogate",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "JSON"),
        ("deep", "JSON"),
    ],
)
def test_it_answers_a_bad_json_body_with_what_was_wrong(client, ingest_secret, body, message):
    if body == "deep":
        value = '{"stringValue": "bottom"}'
        for _ in range(400):
            value = f'{{"arrayValue": {{"values": [{value}]}}}}'
        span = f'{{"attributes": [{{"key": "deep", "value": {value}}}]}}'
        body = f'{{"resourceSpans": [{{"scopeSpans": [{{"spans": [{span}]}}]}}]}}'.encode()
    response = post(client, body, ingest_secret, content_type=JSON)
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"].startswith("invalid")
    assert message in f"{payload['error']} {payload['detail']}"
    assert payload["message"]  # the google.rpc.Status field an OTLP client logs


def test_it_ignores_unknown_json_fields(client, ingest_secret):
    body = b'{"resourceSpans": [{"futureField": 1, "scopeSpans": [{"spans": [{"name": "x", "newThing": {}}]}]}]}'
    response = post(client, body, ingest_secret, content_type=JSON)
    assert response.json()["partialSuccess"]["rejectedSpans"] == "1"


# --- Partial success ------------------------------------------------------------------------


def test_it_counts_spans_that_are_not_llm_calls_as_rejected(client, ingest_secret):
    spans = [make_span({"http.route": "/chat"}, name="POST /chat", start_ns=now_ns()) for _ in range(3)]
    response = post(client, make_export(({"service.name": "gateway"}, spans)).SerializeToString(), ingest_secret)
    partial = parse_response(response).partial_success
    assert partial.rejected_spans == 3
    assert partial.error_message.startswith("3 spans had no gen_ai model attribute")


def test_it_explains_spans_it_could_not_map(client, ingest_secret):
    no_tenant = {k: v for k, v in GEN_AI.items() if k != "opsdash.tenant"}
    spans = [make_span(no_tenant, start_ns=now_ns()), make_span({"http.route": "/"}, start_ns=now_ns())]
    response = post(client, otlp_json(make_export(({}, spans))), ingest_secret, content_type=JSON)
    assert response.json() == {
        "partialSuccess": {
            "rejectedSpans": "2",
            "errorMessage": "1 span had no gen_ai model attribute (gen_ai.response.model, gen_ai.request.model, "
            "llm.model_name); 1 span: tenant: no opsdash.tenant attribute on the span or its resource",
        }
    }


# --- Storage --------------------------------------------------------------------------------


def stored(tenant) -> list[Event]:
    # By tenant: raw events are an unmanaged table that committed tests may leave rows in.
    return list(Event.objects.filter(tenant=tenant).select_related("tenant").order_by("ts", "event_id"))


def chat_span(span_number: int = 1, **attributes) -> Span:
    return make_span({**GEN_AI, **attributes}, start_ns=now_ns(), span_id=span_number.to_bytes(8, "big"))


def test_it_stores_gen_ai_spans_sent_as_protobuf(client, ingest_secret, acme):
    span = chat_span(
        1,
        **{
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.cost": 0.0125,
            "gen_ai.server.time_to_first_token": 0.2,
            "opsdash.prompt_id": "refund-policy",
            "opsdash.prompt_version": "v3",
            "opsdash.conversation_id": "conv-1",
        },
    )
    response = post(client, make_export(({"service.name": "support-bot"}, [span])).SerializeToString(), ingest_secret)
    assert response["Content-Type"] == PROTOBUF
    assert not parse_response(response).HasField("partial_success")
    [event] = stored(acme)
    assert event.event_id == f"{span.trace_id.hex()}:{span.span_id.hex()}"
    assert (event.tenant, event.route, event.model, event.provider) == (
        acme,
        "support/chat",
        "gpt-4o-2024-08-06",
        "openai",
    )
    assert (event.input_tokens, event.output_tokens, event.status) == (120, 40, "ok")
    assert event.latency_ms == pytest.approx(250)
    assert event.ttft_ms == pytest.approx(200)
    assert event.cost_usd == Decimal("0.0125")
    assert (event.prompt_id, event.prompt_version, event.conversation_id) == ("refund-policy", "v3", "conv-1")
    assert event.trace_id == span.trace_id.hex()
    assert event.ts.timestamp() == pytest.approx(span.start_time_unix_nano / 1e9, abs=1e-6)


def test_it_stores_gen_ai_spans_sent_as_otlp_json(client, ingest_secret, acme):
    spans = [chat_span(1), chat_span(2, **{"gen_ai.request.model": "gpt-4o-mini"})]
    response = post(client, otlp_json(make_export(({}, spans))), ingest_secret, content_type=JSON)
    assert response["Content-Type"] == JSON
    assert response.json() == {}
    assert sorted(event.model for event in stored(acme)) == ["gpt-4o", "gpt-4o-mini"]
    assert {event.trace_id for event in stored(acme)} == {spans[0].trace_id.hex()}


@pytest.mark.parametrize(("encoding", "compress"), [("gzip", gzip.compress), ("deflate", zlib.compress)])
def test_it_accepts_compressed_bodies(client, ingest_secret, acme, encoding, compress):
    body = compress(make_export(({}, [chat_span()])).SerializeToString())
    response = post(client, body, ingest_secret, **{"Content-Encoding": encoding})
    assert not parse_response(response).HasField("partial_success")
    assert len(stored(acme)) == 1


def test_it_does_not_store_a_resent_export_twice(client, ingest_secret, acme):
    body = make_export(({}, [chat_span(1), chat_span(2)])).SerializeToString()
    for _ in range(2):
        assert not parse_response(post(client, body, ingest_secret)).HasField("partial_success")
    assert len(stored(acme)) == 2


def test_it_stores_what_it_can_and_reports_the_rest(client, ingest_secret, acme):
    spans = [
        chat_span(1),
        chat_span(2, **{"opsdash.tenant": "nope"}),
        chat_span(3, **{"opsdash.tenant": "nope"}),
        make_span({"http.route": "/chat"}, name="POST /chat", start_ns=now_ns()),
        chat_span(4, **{"gen_ai.usage.input_tokens": -1}),
        chat_span(5),
    ]
    partial = parse_response(post(client, make_export(({}, spans)).SerializeToString(), ingest_secret)).partial_success
    assert partial.rejected_spans == 4
    assert partial.error_message == (
        "1 span had no gen_ai model attribute (gen_ai.response.model, gen_ai.request.model, llm.model_name); "
        "2 spans: tenant: unknown tenant 'nope'; "
        "1 span: input_tokens: must be between 0 and 100,000,000, got -1"
    )
    assert [event.event_id[-1] for event in stored(acme)] == ["1", "5"]


def test_it_reports_spans_older_than_the_retention(client, ingest_secret, acme):
    old = make_span(GEN_AI, start_ns=now_ns() - 400 * 86_400 * 1_000_000_000)
    partial = parse_response(post(client, make_export(({}, [old])).SerializeToString(), ingest_secret)).partial_success
    assert partial.rejected_spans == 1
    assert partial.error_message.startswith("1 span: ts: is older than the retention")
    assert stored(acme) == []


def test_it_asks_the_exporter_to_retry_when_the_database_fails(client, ingest_secret, acme, monkeypatch):
    def failing_ingest(records):
        raise DatabaseError("connection lost")

    monkeypatch.setattr("opsdash.ingest.otlp.ingest_events", failing_ingest)
    response = post(client, make_export(({}, [chat_span()])).SerializeToString(), ingest_secret)
    assert response.status_code == 503  # retryable per the OTLP spec
    assert "retry later" in rpc_status(response).message


def test_it_stores_large_exports_in_several_batches(client, ingest_secret, acme, settings):
    settings.INGEST_MAX_BATCH = 3
    spans = [chat_span(n) for n in range(1, 9)]
    assert not parse_response(post(client, make_export(({}, spans)).SerializeToString(), ingest_secret)).HasField(
        "partial_success"
    )
    assert len(stored(acme)) == 8


# --- Whatever arrives, the answer is never a 500 -------------------------------------------


def mutations(body: bytes):
    return st.lists(st.tuples(st.integers(0, max(len(body) - 1, 0)), st.integers(0, 255)), max_size=6).map(
        lambda changes: _apply(body, changes)
    )


def _apply(body: bytes, changes: list[tuple[int, int]]) -> bytes:
    out = bytearray(body)
    for position, value in changes:
        out[position] = value
    return bytes(out)


FUZZ_EXPORT = make_export(
    (
        {"opsdash.tenant": "acme"},
        [make_span({**GEN_AI, "gen_ai.server.time_to_first_token": 0.1}, name="chat", start_ns=now_ns())],
    )
)


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    protobuf=mutations(FUZZ_EXPORT.SerializeToString()),
    json_body=mutations(otlp_json(FUZZ_EXPORT)),
    gzipped=st.binary(max_size=64).map(lambda tail: gzip.compress(b"x" * 50)[:20] + tail),
)
def test_it_never_answers_a_mangled_body_with_a_server_error(client, ingest_secret, acme, protobuf, json_body, gzipped):
    for body, content_type, headers in (
        (protobuf, PROTOBUF, {}),
        (json_body, JSON, {}),
        (gzipped, PROTOBUF, {"Content-Encoding": "gzip"}),
    ):
        response = post(client, body, ingest_secret, content_type=content_type, **headers)
        assert response.status_code in (200, 400), response.content
