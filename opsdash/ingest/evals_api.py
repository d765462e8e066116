"""The eval API: POST /api/v1/evals takes eval results from CI, same rules as the events
API with body ``{"results": [...]}`` (or NDJSON, one result per line); GET
/api/v1/evals/gate tells CI whether a candidate prompt version may ship (see gate.py)."""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from opsdash.evals import gate
from opsdash.http import json_error
from opsdash.ingest.api import BadRequest, authenticate_ingest, decode_batch, ingest_response, unauthorized
from opsdash.ingest.evals import ingest_evals


@csrf_exempt
@require_POST
def results(request: HttpRequest) -> HttpResponse:
    if authenticate_ingest(request) is None:
        return unauthorized()
    try:
        batch = decode_batch(request, "results")
    except BadRequest as exc:
        return exc.response()
    return ingest_response(batch, ingest_evals, "results")


# --- the gate -----------------------------------------------------------------------------------

# name → longest value (the widths of the EvalResult columns)
GATE_TEXT = {
    "prompt_id": 200,
    "candidate": 100,
    "baseline": 100,
    "candidate_run": 128,
    "baseline_run": 128,
    "suite": 200,
    "model": 200,
}
GATE_REQUIRED = ("prompt_id", "candidate", "baseline")
# name → largest value accepted
GATE_THRESHOLDS = {"max_drop": Decimal(100), "max_cost_rise": Decimal(1_000_000)}
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def _one(params: QueryDict, name: str) -> str:
    values = params.getlist(name)
    if len(values) > 1:
        raise gate.BadParameter(f"{name} is given {len(values)} times; give it once.")
    return values[0].strip() if values else ""


def _threshold(params: QueryDict, name: str, default: Decimal) -> Decimal:
    highest = GATE_THRESHOLDS[name]
    raw = _one(params, name)
    if raw == "":
        return default
    if len(raw) > 32 or not _NUMBER.fullmatch(raw):
        raise gate.BadParameter(f"{name} must be a number such as 2 or 2.5, got {raw[:32]!r}.")
    value = Decimal(raw)
    if value < 0:
        raise gate.BadParameter(f"{name} must be 0 or more, got {raw}.")
    if value > highest:
        raise gate.BadParameter(f"{name} must be at most {highest}, got {raw}.")
    return value


def _gate_params(params: QueryDict) -> tuple[dict[str, str], gate.Thresholds]:
    # A misspelt option would silently leave the default threshold in force: refuse it.
    unknown = sorted(set(params) - set(GATE_TEXT) - set(GATE_THRESHOLDS))
    if unknown:
        known = ", ".join([*GATE_TEXT, *GATE_THRESHOLDS])
        raise gate.BadParameter(f"unknown parameter {unknown[0]!r}; the parameters are {known}.")
    text = {name: _one(params, name) for name in GATE_TEXT}
    missing = [name for name in GATE_REQUIRED if not text[name]]
    if missing:
        names = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
        raise gate.BadParameter(f"{names} {'is' if len(missing) == 1 else 'are'} required.")
    for name, longest in GATE_TEXT.items():
        if len(text[name]) > longest:
            raise gate.BadParameter(f"{name} is longer than {longest} characters.")
    defaults = gate.default_thresholds()
    thresholds = gate.Thresholds(
        _threshold(params, "max_drop", defaults.max_drop_points),
        _threshold(params, "max_cost_rise", defaults.max_cost_rise_percent),
    )
    return text, thresholds


@require_GET
def eval_gate(request: HttpRequest) -> HttpResponse:
    """200 {"result": "pass"} or 409 {"result": "fail"} with the table behind it, so that
    ``curl --fail-with-body`` exits 0 or 22 in CI; 400, 401 and 404 say what was wrong."""
    if authenticate_ingest(request) is None:
        return unauthorized()
    try:
        text, thresholds = _gate_params(request.GET)
        base, cand = gate.select_runs(
            text["prompt_id"],
            text["candidate"],
            text["baseline"],
            candidate_run=text["candidate_run"],
            baseline_run=text["baseline_run"],
            suite=text["suite"],
            model=text["model"],
        )
    except gate.GateError as exc:
        return json_error(exc.status, exc.error, exc.detail)
    report = gate.compare(base, cand, thresholds)
    body = gate.report_json(report)
    compare = urlencode(
        {"prompt_id": cand.prompt_id, "a": base.prompt_version, "b": cand.prompt_version, "suite": cand.suite}
    )
    body["compare_url"] = request.build_absolute_uri(f"{reverse('evals-compare')}?{compare}")
    return JsonResponse(body, status=200 if report.passed else 409)
