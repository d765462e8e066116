"""POST /api/v1/evals: eval results from CI, same rules as the events API with body
``{"results": [...]}`` (or NDJSON, one result per line)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from opsdash.evals.services import ingest_evals
from opsdash.telemetry.api import BadRequest, authenticate_ingest, decode_batch, ingest_response, unauthorized


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
