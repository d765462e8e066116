"""POST /api/v1/events as a producer sees it: auth, body formats, limits, status codes."""

from __future__ import annotations

import gzip
import zlib

import orjson
import pytest
from django.utils import timezone

from opsdash.accounts.models import ApiToken
from opsdash.accounts.services import create_token, revoke_token
from opsdash.telemetry.models import Event
from tests.telemetry.factories import counts, json_body, make_event, ndjson_body, post, post_events


@pytest.fixture
def baseline(acme, globex):
    return counts()


def test_it_stores_a_batch_and_answers_200(client, ingest_secret, baseline):
    events = [make_event(), make_event(tenant="globex")]
    response = post_events(client, ingest_secret, events)
    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    stored = Event.objects.filter(event_id__in=[e["event_id"] for e in events])
    assert sorted(e.tenant.slug for e in stored) == ["acme", "globex"]
    assert counts()["events"] == baseline["events"] + 2


def test_it_accepts_ndjson(client, ingest_secret, baseline):
    response = post(client, ndjson_body([make_event(), make_event()]), ingest_secret, "application/x-ndjson")
    assert response.status_code == 200
    assert response.json()["accepted"] == 2


def test_it_rejects_only_the_unreadable_ndjson_line(client, ingest_secret, baseline):
    good = make_event()
    body = ndjson_body([good]) + b"{not json\n\n" + ndjson_body([make_event()])
    response = post(client, body, ingest_secret, "application/x-ndjson")
    assert response.status_code == 207
    assert response.json()["accepted"] == 2
    [rejection] = response.json()["rejected"]
    assert rejection["index"] == 1
    assert "line 2 is not valid JSON" in rejection["error"]
    assert counts()["events"] == baseline["events"] + 2


def test_it_rejects_non_utf8_in_an_ndjson_line(client, ingest_secret, baseline):
    bad = orjson.dumps(make_event(route="caf\u00e9")).replace("\u00e9".encode(), b"\xe9")
    response = post(client, bad + b"\n" + ndjson_body([make_event()]), ingest_secret, "application/x-ndjson")
    assert response.status_code == 207
    assert response.json()["rejected"][0]["index"] == 0
    assert "UTF-8" in response.json()["rejected"][0]["error"]


def test_it_accepts_gzip(client, ingest_secret, baseline):
    response = post_events(client, ingest_secret, [make_event(), make_event()], gzipped=True)
    assert response.status_code == 200
    assert response.json()["accepted"] == 2


def test_it_answers_207_when_some_are_rejected(client, ingest_secret, baseline):
    response = post_events(client, ingest_secret, [make_event(), make_event(status="fine")])
    assert response.status_code == 207
    body = response.json()
    assert body["accepted"] == 1
    assert body["rejected"] == [
        {"index": 1, "field": "status", "error": "must be one of ok, error, timeout, rate_limited, blocked; got 'fine'"}
    ]
    assert counts()["events"] == baseline["events"] + 1


def test_it_answers_400_when_none_is_valid(client, ingest_secret, baseline):
    response = post_events(client, ingest_secret, [make_event(status="fine"), make_event(tenant="nope")])
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "no valid events"
    assert [r["field"] for r in body["rejected"]] == ["status", "tenant"]
    assert counts() == baseline


def test_it_answers_200_when_everything_was_already_stored(client, ingest_secret, baseline):
    events = [make_event(), make_event()]
    post_events(client, ingest_secret, events)
    response = post_events(client, ingest_secret, events)
    assert response.status_code == 200
    assert response.json() == {"accepted": 0, "duplicates": 2, "rejected": []}
    assert counts()["events"] == baseline["events"] + 2


# --- Authentication ----------------------------------------------------------------------


def test_it_requires_a_token(client, baseline):
    response = post_events(client, None, [make_event()])
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"] == "unauthorized"
    assert counts() == baseline


@pytest.mark.parametrize(
    "authorization",
    ["Bearer odi_0123456789_not-the-secret", "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer "],
)
def test_it_refuses_a_wrong_token(client, ingest_secret, baseline, authorization):
    response = post(client, json_body([make_event()]), None, Authorization=authorization)
    assert response.status_code == 401
    assert counts() == baseline


def test_it_refuses_a_revoked_token(client, baseline):
    token, secret = create_token(acting_user=None, kind="ingest", name="old")
    revoke_token(token, acting_user=None)
    response = post_events(client, secret, [make_event()])
    assert response.status_code == 401
    assert counts() == baseline


def test_it_refuses_a_gateway_token(client, baseline):
    _, secret = create_token(acting_user=None, kind="gateway", name="gw")
    assert post_events(client, secret, [make_event()]).status_code == 401


def test_it_records_when_a_token_was_last_used(client, ingest_secret, baseline):
    post_events(client, ingest_secret, [make_event()])
    token = ApiToken.objects.get(kind="ingest")
    assert token.last_used_at is not None
    assert (timezone.now() - token.last_used_at).total_seconds() < 60


def test_it_accepts_only_post(client, ingest_secret):
    response = client.get("/api/v1/events", headers={"Authorization": f"Bearer {ingest_secret}"})
    assert response.status_code == 405


# --- Bodies that cannot be read ------------------------------------------------------------


def test_it_refuses_unparseable_json(client, ingest_secret, baseline):
    response = post(client, b'{"events": [{"event_id": "a",', ingest_secret)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid JSON"
    assert counts() == baseline


def test_it_refuses_non_utf8_json(client, ingest_secret, baseline):
    body = json_body([make_event(route="caf\u00e9")]).replace("\u00e9".encode(), b"\xe9")
    response = post(client, body, ingest_secret)
    assert response.status_code == 400
    assert "UTF-8" in response.json()["detail"]
    assert counts() == baseline


def test_it_refuses_nan_literals_in_json(client, ingest_secret, baseline):
    body = json_body([make_event()]).replace(b"420.5", b"NaN")
    response = post(client, body, ingest_secret)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid JSON"
    assert counts() == baseline


@pytest.mark.parametrize("body", [b"[]", b'{"events": {}}', b'{"event": []}', b'"events"'])
def test_it_refuses_a_body_of_the_wrong_shape(client, ingest_secret, baseline, body):
    response = post(client, body, ingest_secret)
    assert response.status_code == 400
    assert '{"events": [...]}' in response.json()["detail"]
    assert counts() == baseline


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b'{"events": []}', "application/json"), (b" \n", "application/json"), (b"\n\n", "application/x-ndjson")],
)
def test_it_refuses_an_empty_batch(client, ingest_secret, baseline, body, content_type):
    response = post(client, body, ingest_secret, content_type)
    assert response.status_code == 400
    assert response.json()["error"] == "empty batch"
    assert counts() == baseline


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_it_refuses_a_wrong_content_type(client, ingest_secret, baseline, content_type):
    response = post(client, json_body([make_event()]), ingest_secret, content_type)
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported content type"
    assert counts() == baseline


def test_it_refuses_a_charset_other_than_utf8(client, ingest_secret, baseline):
    response = post(client, json_body([make_event()]), ingest_secret, "application/json; charset=latin-1")
    assert response.status_code == 415


def test_it_refuses_an_unknown_content_encoding(client, ingest_secret, baseline):
    body = zlib.compress(json_body([make_event()]))
    response = post(client, body, ingest_secret, **{"Content-Encoding": "br"})
    assert response.status_code == 415
    assert counts() == baseline


def test_it_refuses_a_corrupt_gzip_body(client, ingest_secret, baseline):
    body = gzip.compress(json_body([make_event()]))
    response = post(client, body[: len(body) // 2], ingest_secret, **{"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid gzip body"
    response = post(client, b"not gzip at all", ingest_secret, **{"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert counts() == baseline


def test_it_refuses_an_oversized_body(client, ingest_secret, baseline, settings):
    settings.INGEST_MAX_BODY_BYTES = 2048
    response = post_events(client, ingest_secret, [make_event() for _ in range(20)])
    assert response.status_code == 413
    assert "2048" in response.json()["detail"]
    assert counts() == baseline


def test_it_refuses_a_gzip_bomb(client, ingest_secret, baseline, settings):
    settings.INGEST_MAX_BODY_BYTES = 1024 * 1024
    inflated = b'{"events": [' + b" " * (50 * 1024 * 1024) + b"]}"
    bomb = gzip.compress(inflated, compresslevel=9)
    assert len(bomb) < settings.INGEST_MAX_BODY_BYTES
    response = post(client, bomb, ingest_secret, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "decompresses to more than" in response.json()["detail"]
    assert counts() == baseline


def test_it_refuses_too_many_records(client, ingest_secret, baseline, settings):
    settings.INGEST_MAX_BATCH = 3
    response = post_events(client, ingest_secret, [make_event() for _ in range(4)])
    assert response.status_code == 413
    assert counts() == baseline
