"""POST /api/v1/events: the ingest API for producers.

Authenticated by an ingest ApiToken (``Authorization: Bearer <secret>``), no cookies
and hence no CSRF. The body is ``{"events": [...]}`` as application/json or one event
per line as application/x-ndjson, optionally gzip-compressed; both the bytes on the wire
and the decompressed bytes are capped at settings.INGEST_MAX_BODY_BYTES.

Status: 200 all stored (duplicates included), 207 some rejected, 400 none valid or an
unreadable body, 401 bad token, 413 too large, 415 wrong content type or encoding.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import orjson
import psycopg
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from opsdash.accounts import tokens
from opsdash.accounts.models import ApiToken
from opsdash.http import json_error
from opsdash.ingest import decode
from opsdash.ingest.events import IngestResult, Rejection, ingest_events
from opsdash.ingest.validation import decode_events_body

log = logging.getLogger(__name__)

JSON = "application/json"
NDJSON = "application/x-ndjson"


class BadRequest(Exception):
    def __init__(self, status: int, error: str, detail: object = None) -> None:
        super().__init__(error)
        self.status, self.error, self.detail = status, error, detail

    def response(self) -> JsonResponse:
        return json_error(self.status, self.error, self.detail)


# --- Authentication -----------------------------------------------------------------------


def authenticate_ingest(request: HttpRequest) -> ApiToken | None:
    return tokens.authenticate(request, ApiToken.Kind.INGEST)


def unauthorized() -> JsonResponse:
    return tokens.unauthorized("ingest")


# --- Body -----------------------------------------------------------------------------------


@dataclass
class Batch:
    """Records decoded from a body; ``lines`` maps each record to its NDJSON line."""

    records: list[object]
    positions: list[int]  # index in the request of each record in ``records``
    total: int
    unparsed: list[Rejection] = field(default_factory=list)


def read_body(request: HttpRequest, limit: int) -> bytes:
    """The request body, decompressed, refusing more than ``limit`` bytes either way."""
    try:
        return decode.read_body(request, limit)
    except decode.UnsupportedEncoding as exc:
        raise BadRequest(415, "unsupported content encoding", f"{exc.encoding!r}; send gzip or no encoding") from None
    except decode.InvalidLength:
        raise BadRequest(400, "invalid Content-Length") from None
    except decode.TooLarge as exc:
        if exc.declared is not None:
            size = f"{exc.declared} bytes"
        elif exc.inflated:
            size = f"decompresses to more than {limit} bytes"
        else:
            size = f"more than {limit} bytes"
        raise BadRequest(413, "body too large", f"{size}; the limit is {limit} bytes") from None
    except decode.InvalidCompression as exc:
        raise BadRequest(400, f"invalid {exc.codec} body", exc.reason) from None


def decode_batch(request: HttpRequest, key: str) -> Batch:
    """Records of a JSON body ``{key: [...]}`` or an NDJSON body, per the content type."""
    media_type = (request.content_type or "").strip().lower()
    if media_type not in (JSON, NDJSON):
        raise BadRequest(415, "unsupported content type", f"{request.content_type!r}; send {JSON} or {NDJSON}")
    charset = (request.content_params or {}).get("charset", "utf-8").strip().lower()
    if charset not in ("utf-8", "utf8"):
        raise BadRequest(415, "unsupported charset", f"{charset!r}; send UTF-8")
    body = read_body(request, settings.INGEST_MAX_BODY_BYTES)
    events = decode_events_body(body) if media_type == JSON and key == "events" else None
    if events is not None:
        batch = Batch(cast("list[object]", events), list(range(len(events))), len(events))
    else:
        batch = parse_ndjson(body) if media_type == NDJSON else parse_json(body, key)
    if batch.total == 0:
        raise BadRequest(400, "empty batch", f"send at least one record in {key!r}")
    if batch.total > settings.INGEST_MAX_BATCH:
        raise BadRequest(
            413, "too many records", f"{batch.total} records; send at most {settings.INGEST_MAX_BATCH} per request"
        )
    return batch


def parse_json(body: bytes, key: str) -> Batch:
    if not body.strip():
        return Batch([], [], 0)
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(400, "invalid JSON", str(exc)) from None
    if type(document) is not dict:
        raise BadRequest(400, "invalid body", f'send an object {{"{key}": [...]}}')
    records = document.get(key)
    if type(records) is not list:
        raise BadRequest(400, "invalid body", f'send an object {{"{key}": [...]}} with a list of records')
    return Batch(records, list(range(len(records))), len(records))


def parse_ndjson(body: bytes) -> Batch:
    """One record per line; blank lines are skipped, an unreadable line rejects only itself."""
    records: list[object] = []
    positions: list[int] = []
    unparsed: list[Rejection] = []
    index = 0
    for number, record in decode.ndjson_records(body.split(b"\n")):
        if isinstance(record, decode.Unreadable):
            unparsed.append(Rejection(index, "line", f"line {number} is not valid JSON: {record.error}"))
        else:
            records.append(record)
            positions.append(index)
        index += 1
    return Batch(records, positions, index, unparsed)


# --- Views ----------------------------------------------------------------------------------


def ingest_response(batch: Batch, ingest: Callable[[list[object]], IngestResult], noun: str) -> HttpResponse:
    try:
        result = ingest(batch.records) if batch.records else IngestResult()
    except (DatabaseError, psycopg.Error):
        log.exception("ingest of %d %s failed in the database", len(batch.records), noun)
        return json_error(503, "unavailable", "the database did not accept the batch; retry later")
    rejected = batch.unparsed + [Rejection(batch.positions[r.index], r.field, r.error) for r in result.rejected]
    rejected.sort(key=lambda r: r.index)
    body = IngestResult(result.accepted, result.duplicates, rejected).as_dict()
    stored = result.accepted + result.duplicates
    if stored == 0:
        body = {"error": f"no valid {noun}", "detail": f"all {batch.total} {noun} were rejected", **body}
        return JsonResponse(body, status=400)
    return JsonResponse(body, status=207 if rejected else 200)


@csrf_exempt
@require_POST
def events(request: HttpRequest) -> HttpResponse:
    if authenticate_ingest(request) is None:
        return unauthorized()
    try:
        batch = decode_batch(request, "events")
    except BadRequest as exc:
        return exc.response()
    return ingest_response(batch, ingest_events, "events")
