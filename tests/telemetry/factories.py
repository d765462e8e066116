"""Events as producers send them, and row counts of everything an ingest writes."""

from __future__ import annotations

import datetime as dt
import gzip
import itertools

import orjson
from django.db import connection
from django.utils import timezone

from opsdash.knowledge.models import Conversation, Message
from opsdash.safety.models import SafetyFlag

EVENTS_URL = "/api/v1/events"
EVALS_URL = "/api/v1/evals"
_serial = itertools.count()


def rfc3339(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def make_event(tenant: str = "acme", **fields: object) -> dict[str, object]:
    """A valid event one minute old (by the test clock, tests/conftest.py); keyword arguments
    replace or add fields."""
    event: dict[str, object] = {
        "event_id": f"ev-{next(_serial)}",
        "ts": rfc3339(timezone.now() - dt.timedelta(minutes=1)),
        "tenant": tenant,
        "route": "/chat",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "status": "ok",
        "latency_ms": 420.5,
        "ttft_ms": 110.0,
        "input_tokens": 1200,
        "output_tokens": 300,
    }
    event.update(fields)
    return event


def without(event: dict[str, object], name: str) -> dict[str, object]:
    return {key: value for key, value in event.items() if key != name}


def json_body(records: list[object], key: str = "events") -> bytes:
    return orjson.dumps({key: records})


def ndjson_body(records: list[object]) -> bytes:
    return b"\n".join(orjson.dumps(record) for record in records) + b"\n"


def post(
    client, body: bytes, secret: str | None, content_type: str = "application/json", url: str = EVENTS_URL, **headers
):
    if secret is not None:
        headers.setdefault("Authorization", f"Bearer {secret}")
    return client.post(url, data=body, content_type=content_type, headers=headers)


def post_events(client, secret: str | None, records: list[object], gzipped: bool = False):
    body = json_body(records)
    if gzipped:
        return post(client, gzip.compress(body), secret, **{"Content-Encoding": "gzip"})
    return post(client, body, secret)


def scalar(sql: str, params: list[object] | None = None) -> object:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()[0]


def counts() -> dict[str, int]:
    """Rows of everything ingest writes; compare before and after a request."""
    return {
        "events": int(scalar("SELECT count(*) FROM telemetry_event")),
        "keys": int(scalar("SELECT count(*) FROM telemetry_event_key")),
        "flags": SafetyFlag.objects.count(),
        "conversations": Conversation.objects.count(),
        "messages": Message.objects.count(),
    }


def truncate_raw() -> None:
    """Empty the tables Django's flush does not know (unmanaged): raw events, keys, rollups."""
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE telemetry_event, telemetry_event_key, "
            "telemetry_rollup_minute, telemetry_rollup_hour, telemetry_rollup_day"
        )
