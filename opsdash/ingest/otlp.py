"""OTLP/HTTP trace ingest: ``POST /v1/traces`` turns GenAI spans into request events.

Any OpenTelemetry SDK or collector can point its OTLP/HTTP exporter at opsdash.
Spans that describe an LLM call (they carry a model attribute, see ``semconv``)
become events in the Event contract shape and go through the same ingest as
``/api/v1/events``; every other span is counted and skipped. The event id is
``<trace id>:<span id>``, so an exporter that re-sends a batch after a timeout
creates no duplicates.

The wire rules follow the OTLP specification: binary protobuf or OTLP/JSON by
Content-Type, optional gzip, a body limit applied after decompression too, and
an ``ExportTraceServiceResponse`` whose ``partial_success`` says how many spans
were not stored and why. Errors are a ``google.rpc.Status`` in the request's
encoding; in JSON it also carries opsdash's ``{"error", "detail"}`` keys.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from opsdash.ingest import decode, semconv
from opsdash.ingest.api import authenticate_ingest
from opsdash.ingest.events import ingest_events
from opsdash.ingest.validation import bad_text

log = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# Distinct rejection reasons spelled out in partial_success before the rest is summed up.
MAX_REASONS = 10
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIMEOUT = re.compile(r"time[\s_-]?out|timed[\s_-]?out|deadline[\s_-]?exceeded", re.IGNORECASE)
_RATE_LIMIT = re.compile(r"rate[\s_-]?limit|too[\s_-]?many[\s_-]?requests|quota", re.IGNORECASE)
SKIPPED_REASON = "had no gen_ai model attribute ({})".format(", ".join(semconv.MODEL))


# --- Mapping: spans to events ---------------------------------------------------------------


class SpanRejected(Exception):
    """A GenAI span that cannot become an event; ``field`` names the event field at fault."""

    def __init__(self, field: str, error: str) -> None:
        super().__init__(f"{field}: {error}")
        self.field = field
        self.error = error


@dataclass
class MappedExport:
    """What one export request amounts to before storage."""

    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0  # spans that are not LLM calls
    rejected: list[SpanRejected] = field(default_factory=list)


Attributes = dict[str, AnyValue]


def attributes(key_values: Iterable[KeyValue]) -> Attributes:
    # A repeated key is a sender bug; the last one wins, as in the collector.
    return {kv.key: kv.value for kv in key_values}


def map_export(export: ExportTraceServiceRequest) -> MappedExport:
    mapped = MappedExport()
    for resource_spans in export.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                try:
                    record = span_to_event(span, resource)
                except SpanRejected as rejection:
                    mapped.rejected.append(rejection)
                    continue
                if record is None:
                    mapped.skipped += 1
                else:
                    mapped.records.append(record)
    return mapped


def span_to_event(span: Span, resource: Attributes | None = None) -> dict[str, Any] | None:
    """The event for one span; None when the span is not an LLM call (it has no model)."""
    attrs = _Lookup(attributes(span.attributes), resource or {})
    model = attrs.string("model", semconv.MODEL)
    if model is None:
        return None

    if len(span.trace_id) != 16 or not any(span.trace_id):
        raise SpanRejected("trace_id", "the span's trace id is not 16 bytes with at least one non-zero byte")
    if len(span.span_id) != 8 or not any(span.span_id):
        raise SpanRejected("span_id", "the span's span id is not 8 bytes with at least one non-zero byte")
    if not span.start_time_unix_nano or not span.end_time_unix_nano:
        raise SpanRejected("ts", "the span has no start or end time")
    if span.end_time_unix_nano < span.start_time_unix_nano:
        raise SpanRejected("latency_ms", "the span ends before it starts")
    tenant = attrs.string("tenant", semconv.TENANT)
    if tenant is None:
        raise SpanRejected("tenant", f"no {semconv.OPSDASH_TENANT} attribute on the span or its resource")
    route = attrs.string("route", semconv.ROUTE) or _clean_string("route", span.name)
    if not route:
        raise SpanRejected("route", f"no {semconv.OPSDASH_ROUTE} attribute and the span has no name")

    trace_id = span.trace_id.hex()
    latency_ms = (span.end_time_unix_nano - span.start_time_unix_nano) / 1_000_000
    record: dict[str, Any] = {
        "event_id": f"{trace_id}:{span.span_id.hex()}",
        "ts": nanos_to_rfc3339(span.start_time_unix_nano),
        "tenant": tenant,
        "route": route,
        "model": model,
        "status": span_status(span, attrs),
        "latency_ms": round(latency_ms, 3),
        # Streaming and failed calls often report no usage; the call still counts for
        # latency and errors, so missing counts are zero rather than a rejected span.
        "input_tokens": attrs.integer("input_tokens", semconv.INPUT_TOKENS) or 0,
        "output_tokens": attrs.integer("output_tokens", semconv.OUTPUT_TOKENS) or 0,
        "trace_id": trace_id,
    }
    optional = {
        "provider": attrs.string("provider", semconv.PROVIDER),
        "prompt_id": attrs.string("prompt_id", semconv.PROMPT_ID),
        "prompt_version": attrs.string("prompt_version", semconv.PROMPT_VERSION),
        "conversation_id": attrs.string("conversation_id", semconv.CONVERSATION_ID),
        "user": attrs.string("user", semconv.USER),
        "cost_usd": attrs.number("cost_usd", semconv.COST),
        "cache_hit": attrs.boolean("cache_hit", semconv.CACHE_HIT),
    }
    ttft_seconds = attrs.number("ttft_ms", semconv.TIME_TO_FIRST_TOKEN)
    if ttft_seconds is not None:
        if not math.isfinite(ttft_seconds * 1000):
            raise SpanRejected("ttft_ms", "time to first token is out of range")
        optional["ttft_ms"] = round(ttft_seconds * 1000, 3)
    record.update({key: value for key, value in optional.items() if value is not None})
    return record


def span_status(span: Span, attrs: _Lookup) -> str:
    if span.status.code != Status.StatusCode.STATUS_CODE_ERROR:
        return "ok"
    error_type = attrs.raw(semconv.ERROR_TYPE)
    text = span.status.message
    if error_type is not None and error_type.WhichOneof("value") == "string_value":
        text = f"{text} {error_type.string_value}"
    http_status = attrs.raw(semconv.HTTP_RESPONSE_STATUS_CODE)
    if _TIMEOUT.search(text):
        return "timeout"
    if _RATE_LIMIT.search(text) or (http_status is not None and http_status.int_value == 429):
        return "rate_limited"
    return "error"


def nanos_to_rfc3339(nanos: int) -> str:
    seconds, rest = divmod(nanos, 1_000_000_000)
    return (_EPOCH + timedelta(seconds=seconds, microseconds=rest // 1000)).isoformat(timespec="microseconds")


class _Lookup:
    """Typed reads over span attributes backed by resource attributes (the span wins).

    Each reader takes the first name present, in the order given, and rejects a value
    of the wrong type instead of falling through to the next name: a sender who set
    the attribute should hear that it was unusable.
    """

    def __init__(self, span: Attributes, resource: Attributes) -> None:
        self.span = span
        self.resource = resource

    def raw(self, name: str) -> AnyValue | None:
        value = self.span.get(name)
        if value is None:
            value = self.resource.get(name)
        if value is None or value.WhichOneof("value") is None:
            return None
        return value

    def _first(self, names: tuple[str, ...]) -> tuple[str, str, Any] | None:
        for name in names:
            value = self.raw(name)
            kind = value.WhichOneof("value") if value is not None else None
            if kind is not None:
                return name, kind, getattr(value, kind)
        return None

    def string(self, target: str, names: tuple[str, ...]) -> str | None:
        found = self._first(names)
        if found is None:
            return None
        name, kind, value = found
        if kind == "int_value":
            return str(value)
        if kind != "string_value":
            raise SpanRejected(target, f"{name} must be a string, not {_kind_name(kind)}")
        return _clean_string(target, value) or None

    def integer(self, target: str, names: tuple[str, ...]) -> int | None:
        found = self._first(names)
        if found is None:
            return None
        name, kind, value = found
        if kind == "int_value":
            return value
        if kind == "double_value" and math.isfinite(value) and value.is_integer():
            return int(value)
        if kind == "string_value" and re.fullmatch(r"\s*[0-9]{1,18}\s*", value):
            return int(value)
        raise SpanRejected(target, f"{name} must be an integer, not {_describe(kind, value)}")

    def number(self, target: str, names: tuple[str, ...]) -> float | None:
        found = self._first(names)
        if found is None:
            return None
        name, kind, value = found
        number: float | None = None
        if kind in ("int_value", "double_value"):
            number = float(value)
        elif kind == "string_value":
            try:
                number = float(value)
            except ValueError:
                number = None
        if number is None or not math.isfinite(number):
            raise SpanRejected(target, f"{name} must be a finite number, not {_describe(kind, value)}")
        return number

    def boolean(self, target: str, names: tuple[str, ...]) -> bool | None:
        found = self._first(names)
        if found is None:
            return None
        name, kind, value = found
        if kind == "bool_value":
            return value
        if kind == "string_value" and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if kind == "int_value" and value in (0, 1):
            return bool(value)
        raise SpanRejected(target, f"{name} must be a boolean, not {_describe(kind, value)}")


def _clean_string(target: str, value: str) -> str:
    # The contract (validation.py) refuses such text as well; refusing it here reports
    # the span like the mapping's other problems, before anything else reads the value.
    if problem := bad_text(value):
        raise SpanRejected(target, problem)
    return value


def _kind_name(kind: str) -> str:
    return {"array_value": "an array", "kvlist_value": "a map", "bytes_value": "bytes"}.get(
        kind, f"a {kind.removesuffix('_value')}"
    )


def _describe(kind: str, value: Any) -> str:
    if kind in ("string_value", "int_value", "double_value", "bool_value"):
        return f"{_kind_name(kind)} ({str(value)[:40]!r})"
    return _kind_name(kind)


# --- Decoding ---------------------------------------------------------------------------------


class BadRequest(Exception):
    """A request that cannot be processed; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(f"{error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail


def read_body(request: HttpRequest, limit: int) -> bytes:
    """The request body, decompressed, never holding more than ``limit`` bytes of it."""
    try:
        return decode.read_body(request, limit, deflate=True)
    except decode.UnsupportedEncoding as exc:
        raise BadRequest(415, "unsupported content encoding", f"{exc.encoding!r}; send gzip, deflate or none") from None
    except decode.InvalidLength:
        raise BadRequest(400, "invalid Content-Length", "send the body's length in bytes") from None
    except decode.TooLarge:
        raise BadRequest(413, "body too large", f"the limit is {limit} bytes, after decompression too") from None
    except decode.InvalidCompression as exc:
        raise BadRequest(400, f"invalid {exc.codec} body", exc.reason) from None


def decode_export(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    if content_type == PROTOBUF:
        try:
            return ExportTraceServiceRequest.FromString(body)
        except (DecodeError, RecursionError, ValueError) as exc:
            raise BadRequest(400, "invalid protobuf", f"not an ExportTraceServiceRequest: {exc}") from None
    return decode_json_export(body)


def decode_json_export(body: bytes) -> ExportTraceServiceRequest:
    """OTLP/JSON: the proto3 JSON mapping, except that trace and span ids are hex."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(400, "invalid JSON", str(exc)) from None
    if not isinstance(document, dict):
        raise BadRequest(400, "invalid OTLP/JSON", "the body must be a JSON object with a resourceSpans list")
    _hex_ids_to_base64(document)
    try:
        return json_format.ParseDict(document, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise BadRequest(400, "invalid OTLP/JSON", str(exc)) from None


def _hex_ids_to_base64(document: dict[str, Any]) -> None:
    for i, resource_spans in enumerate(_list(document, "resourceSpans", "resource_spans")):
        for j, scope_spans in enumerate(_list(resource_spans, "scopeSpans", "scope_spans")):
            for k, span in enumerate(_list(scope_spans, "spans")):
                path = f"resourceSpans[{i}].scopeSpans[{j}].spans[{k}]"
                _convert_ids(span, path, ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id"))
                for m, link in enumerate(_list(span, "links")):
                    _convert_ids(link, f"{path}.links[{m}]", ("traceId", "trace_id", "spanId", "span_id"))


def _list(parent: Any, *keys: str) -> list[Any]:
    if not isinstance(parent, dict):
        return []
    for key in keys:
        value = parent.get(key)
        if isinstance(value, list):
            return value
    return []


def _convert_ids(item: Any, path: str, keys: tuple[str, ...]) -> None:
    if not isinstance(item, dict):
        return
    for key in keys:
        value = item.get(key)
        if not isinstance(value, str):
            continue  # absent, or a type that ParseDict reports with its own message
        try:
            raw = binascii.unhexlify(value)
        except (binascii.Error, ValueError):
            raise BadRequest(400, "invalid OTLP/JSON", f"{path}.{key}: {value[:40]!r} is not a hex string") from None
        item[key] = base64.b64encode(raw).decode("ascii")


# --- Responses ------------------------------------------------------------------------------

# google.rpc.Code for each status we answer with; the OTLP spec lets clients log it.
_RPC_CODES = {400: 3, 401: 16, 413: 8, 415: 3, 503: 14}


def export_response(content_type: str, rejected: int, message: str) -> HttpResponse:
    response = ExportTraceServiceResponse()
    # The spec wants partial_success left unset when everything was accepted.
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if content_type == PROTOBUF:
        return HttpResponse(response.SerializeToString(), content_type=PROTOBUF)
    return HttpResponse(json_format.MessageToJson(response, indent=None), content_type=JSON)


def error_response(content_type: str | None, status: int, error: str, detail: str) -> HttpResponse:
    message = f"{error}: {detail}"
    code = _RPC_CODES.get(status, 2)
    if content_type == PROTOBUF:
        body = status_pb2.Status(code=code, message=message).SerializeToString()
        response = HttpResponse(body, status=status, content_type=PROTOBUF)
    else:
        response = JsonResponse({"error": error, "detail": detail, "code": code, "message": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = "Bearer"
    return response


def describe_rejections(skipped: int, problems: list[str]) -> str:
    """One sentence for partial_success: how many spans were not stored, and why."""
    parts = [f"{_spans(skipped)} {SKIPPED_REASON}"] if skipped else []
    reasons = Counter(problems).most_common()
    parts += [f"{_spans(count)}: {problem}" for problem, count in reasons[:MAX_REASONS]]
    rest = sum(count for _, count in reasons[MAX_REASONS:])
    if rest:
        parts.append(f"{_spans(rest)} for {len(reasons) - MAX_REASONS} other reasons")
    return "; ".join(parts)


def _spans(count: int) -> str:
    return f"{count} span" if count == 1 else f"{count} spans"


# --- View -----------------------------------------------------------------------------------


@csrf_exempt
@require_POST
def traces(request: HttpRequest) -> HttpResponse:
    media_type = (request.content_type or "").strip().lower()
    content_type = media_type if media_type in (PROTOBUF, JSON) else None
    if authenticate_ingest(request) is None:
        return error_response(content_type, 401, "unauthorized", "send Authorization: Bearer <ingest token>")
    if content_type is None:
        return error_response(
            None, 415, "unsupported content type", f"{request.content_type!r}; send {PROTOBUF} or {JSON}"
        )
    try:
        body = read_body(request, settings.INGEST_MAX_BODY_BYTES)
        export = decode_export(body, content_type)
    except BadRequest as exc:
        return error_response(content_type, exc.status, exc.error, exc.detail)

    mapped = map_export(export)
    problems = [str(rejection) for rejection in mapped.rejected]
    # Batches of the same size as /api/v1/events keep each ingest transaction bounded
    # without refusing a large export: OTLP clients do not split and retry on 413.
    step = settings.INGEST_MAX_BATCH
    try:
        for start in range(0, len(mapped.records), step):
            batch: list[object] = [*mapped.records[start : start + step]]
            result = ingest_events(batch)
            problems += [f"{rejection.field}: {rejection.error}" for rejection in result.rejected]
    except (DatabaseError, psycopg.Error):
        # 503 is retryable for OTLP clients; batches already stored are duplicates then.
        log.exception("OTLP ingest of %d spans failed in the database", len(mapped.records))
        return error_response(content_type, 503, "unavailable", "the database did not accept the spans; retry later")
    rejected = mapped.skipped + len(problems)
    return export_response(content_type, rejected, describe_rejections(mapped.skipped, problems))
