"""POST /api/v1/evals: eval results from CI, stored once per (run, case, metric)."""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
import math
from decimal import Decimal

import orjson
import pytest

from opsdash.accounts.services import create_token, revoke_token
from opsdash.evals.models import EvalResult
from opsdash.ingest.evals import ingest_evals

URL = "/api/v1/evals"
REQUIRED = ["run_id", "ts", "suite", "prompt_id", "prompt_version", "model", "case_id", "metric", "passed"]
_case = itertools.count()


@pytest.fixture
def secret(db) -> str:
    _, secret = create_token(acting_user=None, kind="ingest", name="ci")
    return secret


def make_result(**fields: object) -> dict[str, object]:
    result: dict[str, object] = {
        "run_id": "run-2025-01-31-1",
        "ts": (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3)).isoformat(),
        "suite": "support-regression",
        "prompt_id": "support-answer",
        "prompt_version": "v7",
        "model": "gpt-4o-mini",
        "case_id": f"case-{next(_case)}",
        "metric": "faithfulness",
        "passed": True,
        "score": 0.92,
        "threshold": 0.8,
    }
    result.update(fields)
    return result


def post(client, secret, results, content_type="application/json", gzipped=False, **headers):
    body = orjson.dumps({"results": results})
    if content_type == "application/x-ndjson":
        body = b"\n".join(orjson.dumps(r) for r in results)
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    if secret:
        headers["Authorization"] = f"Bearer {secret}"
    return client.post(URL, data=body, content_type=content_type, headers=headers)


def test_it_stores_eval_results(client, secret):
    results = [make_result(), make_result(passed=False, score=0.4, language="de", model_hash="sha256:ab", detail="x")]
    response = post(client, secret, results)
    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    failed = EvalResult.objects.get(case_id=results[1]["case_id"])
    assert (failed.passed, failed.score, failed.threshold, failed.language) == (False, 0.4, 0.8, "de")
    assert (failed.model_hash, failed.detail) == ("sha256:ab", "x")


def test_it_counts_a_result_sent_again_as_a_duplicate(client, secret):
    result = make_result()
    post(client, secret, [result])
    response = post(client, secret, [result, dict(result, score=0.1), make_result()])
    assert response.json() == {"accepted": 1, "duplicates": 2, "rejected": []}
    assert EvalResult.objects.get(case_id=result["case_id"]).score == 0.92
    assert EvalResult.objects.count() == 2


def test_it_accepts_ndjson_and_gzip(client, secret):
    assert post(client, secret, [make_result()], content_type="application/x-ndjson").json()["accepted"] == 1
    assert post(client, secret, [make_result()], gzipped=True).json()["accepted"] == 1


def test_it_keeps_the_cost_when_sent(client, secret):
    result = make_result(cost_usd=0.0031)
    post(client, secret, [result, make_result()])
    assert EvalResult.objects.get(case_id=result["case_id"]).cost_usd == Decimal("0.0031")


@pytest.mark.parametrize("name", REQUIRED)
def test_it_rejects_a_result_missing_a_required_field(client, secret, name):
    bad = {k: v for k, v in make_result().items() if k != name}
    response = post(client, secret, [make_result(), bad])
    assert response.status_code == 207
    assert response.json()["rejected"] == [{"index": 1, "field": name, "error": "is required"}]
    assert EvalResult.objects.count() == 1


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("passed", "yes", "must be true or false, got a string"),
        ("passed", 1, "must be true or false, got an integer"),
        ("score", "0.9", "must be a number, got a string"),
        ("score", 1.5, "must be between 0 and 1, got 1.5"),
        ("score", -0.1, "must be between 0 and 1, got -0.1"),
        ("threshold", True, "must be a number, got a boolean"),
        ("cost_usd", -1, "must be between 0 and 1e+06, got -1"),
        ("run_id", "r" * 129, "must be 1 to 128 characters, got 129"),
        ("case_id", 5, "must be a string, got an integer"),
        ("language", "x" * 36, "must be 1 to 35 characters, got 36"),
        ("detail", ["x"], "must be a string, got a list"),
        ("ts", "2025-01-31T10:00:00", "must be an RFC 3339 timestamp with an offset, e.g. 2025-01-31T12:00:00Z"),
    ],
)
def test_it_rejects_a_field_of_the_wrong_type_or_range(client, secret, name, value, error):
    response = post(client, secret, [make_result(**{name: value})])
    assert response.status_code == 400
    assert response.json()["rejected"] == [{"index": 0, "field": name, "error": error}]
    assert EvalResult.objects.count() == 0


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_it_rejects_nan_and_infinity(db, value):
    result = ingest_evals([make_result(score=value)])
    assert result.accepted == 0
    assert "finite" in result.rejected[0].error


def test_it_rejects_results_from_the_future(db):
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)).isoformat()
    assert ingest_evals([make_result(ts=later)]).rejected[0].error == "is more than 5 minutes in the future"


def test_it_requires_an_active_ingest_token(client, db):
    assert post(client, None, [make_result()]).status_code == 401
    token, revoked = create_token(acting_user=None, kind="ingest", name="old")
    revoke_token(token, acting_user=None)
    assert post(client, revoked, [make_result()]).status_code == 401
    assert EvalResult.objects.count() == 0


def test_it_refuses_bodies_it_cannot_read(client, secret):
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.post(URL, data=b"{", content_type="application/json", headers=headers).status_code == 400
    assert (
        client.post(URL, data=b'{"results": []}', content_type="application/json", headers=headers).status_code == 400
    )
    assert (
        client.post(URL, data=b'{"events": [{}]}', content_type="application/json", headers=headers).status_code == 400
    )
    assert client.post(URL, data=b"<xml/>", content_type="text/xml", headers=headers).status_code == 415
    assert EvalResult.objects.count() == 0
