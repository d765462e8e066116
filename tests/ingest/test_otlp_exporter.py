"""The real OpenTelemetry SDK and its OTLP/HTTP exporter, sending to a running opsdash."""

from __future__ import annotations

import time

import pytest
import requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.ingest.test_otlp_endpoint import otlp_json

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def secret(acme, empty_raw, ingest_secret) -> str:
    """An ingest token's secret, with acme to send for and raw tables emptied before and after."""
    return ingest_secret


def record_llm_calls() -> list:
    """Two chat calls and one HTTP span, recorded by the SDK as an instrumented app would."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot", "opsdash.tenant": "acme"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("support-bot")
    start = time.time_ns() - 60 * 1_000_000_000
    with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER, start_time=start):
        chat = tracer.start_span("chat gpt-4o", kind=SpanKind.CLIENT, start_time=start + 1_000_000)
        chat.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 812,
                "gen_ai.usage.output_tokens": 96,
                "opsdash.route": "support/answer",
                "opsdash.prompt_id": "answer",
                "opsdash.prompt_version": "v3",
            }
        )
        chat.end(end_time=start + 1_000_000 + 1_234_500_000)
        failed = tracer.start_span("chat claude", kind=SpanKind.CLIENT, start_time=start + 2_000_000_000)
        failed.set_attributes({"llm.model_name": "claude-sonnet-4", "llm.provider": "anthropic"})
        failed.set_status(Status(StatusCode.ERROR, "Request timed out."))
        failed.end(end_time=start + 32_000_000_000)
    provider.shutdown()
    return list(memory.get_finished_spans())


def stored_events() -> dict[str, object]:
    from opsdash.telemetry.models import Event

    return {event.model: event for event in Event.objects.select_related("tenant")}


def assert_landed(events: dict) -> None:
    assert set(events) == {"gpt-4o-2024-08-06", "claude-sonnet-4"}
    chat = events["gpt-4o-2024-08-06"]
    assert chat.tenant.slug == "acme"
    assert (chat.route, chat.provider, chat.status) == ("support/answer", "openai", "ok")
    assert (chat.input_tokens, chat.output_tokens) == (812, 96)
    assert (chat.prompt_id, chat.prompt_version) == ("answer", "v3")
    assert float(chat.latency_ms) == pytest.approx(1234.5)
    failed = events["claude-sonnet-4"]
    assert (failed.route, failed.status, failed.provider) == ("chat claude", "timeout", "anthropic")
    assert float(failed.latency_ms) == pytest.approx(30_000)


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_it_stores_spans_from_the_otlp_http_exporter(live_server, secret, compression):
    spans = record_llm_calls()
    exporter = OTLPSpanExporter(
        endpoint=f"{live_server.url}/v1/traces",
        headers={"Authorization": f"Bearer {secret}"},
        compression=compression,
        timeout=10,
    )
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    # An exporter retrying after a lost response sends the same spans again.
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    exporter.shutdown()
    assert_landed(stored_events())


def test_it_tells_the_exporter_when_the_token_is_wrong(live_server, secret):
    exporter = OTLPSpanExporter(
        endpoint=f"{live_server.url}/v1/traces", headers={"Authorization": "Bearer odi_0000000000_wrong"}, timeout=10
    )
    assert exporter.export(record_llm_calls()) == SpanExportResult.FAILURE
    exporter.shutdown()
    assert stored_events() == {}


def test_it_stores_spans_sent_as_otlp_json(live_server, secret):
    body = otlp_json(encode_spans(record_llm_calls()))
    response = requests.post(
        f"{live_server.url}/v1/traces",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {secret}"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    # The HTTP server span is no LLM call: it is reported back, not stored.
    assert response.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert_landed(stored_events())
