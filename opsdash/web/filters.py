"""The filters every dashboard shares, read from the query string.

Filters live in the URL so a view can be shared and the back button works. Tenant
must be visible to the user (404 otherwise, as for any tenant URL); route, model and
prompt narrow further, one at a time (see opsdash.telemetry.filters).
"""

from __future__ import annotations

import datetime as dt

from django.http import Http404, HttpRequest, QueryDict
from django.utils import timezone

from opsdash.accounts import access
from opsdash.lib.timerange import RangeError, parse_range
from opsdash.telemetry.filters import NARROWING, PAGE_PARAMS, FilterError, Filters

MAX_TEXT = 200


def _text(params: QueryDict, name: str) -> str:
    value = (params.get(name) or "").strip()
    if len(value) > MAX_TEXT:
        raise FilterError(f"'{name}' is longer than {MAX_TEXT} characters.")
    if "\x00" in value:
        raise FilterError(f"'{name}' must not contain a NUL character.")
    return value


def page_params(params: QueryDict) -> tuple[tuple[str, str], ...]:
    """The page parameters (Filters.page_params) of a query string; over-long values raise
    FilterError like any filter."""
    return tuple((name, value) for name in PAGE_PARAMS if (value := _text(params, name)))


def parse_filters(request: HttpRequest, now: dt.datetime | None = None, default_range: str | None = None) -> Filters:
    """Filters for this request. Bad values raise FilterError (shown as a 400); a tenant
    outside the user's scope raises Http404 like any other tenant URL."""
    params = request.GET
    try:
        raw = {k: params.get(k, "") for k in ("range", "from", "to")}
        raw["range"] = raw["range"] or default_range or ""
        time_range = parse_range(raw, now or timezone.now())
    except RangeError as exc:
        raise FilterError(str(exc) + ".") from None
    scope = access.scope_tenant_ids(request.user)
    tenant = None
    slug = _text(params, "tenant")
    if slug:
        tenant = access.tenant_for(request.user, slug)
    prompt = _text(params, "prompt")
    prompt_id, _, prompt_version = prompt.partition("@")
    filters = Filters(
        range=time_range,
        tenant=tenant,
        route=_text(params, "route"),
        model=_text(params, "model"),
        prompt_id=prompt_id,
        prompt_version=prompt_version,
        scope=scope,
        page_params=page_params(params),
    )
    narrowing = [name for name in NARROWING if getattr(filters, name if name != "prompt" else "prompt_id")]
    if len(narrowing) > 1:
        raise FilterError(f"Filter by one of route, model or prompt at a time (got {' and '.join(narrowing)}).")
    return filters


def query_detail(request: HttpRequest) -> dict[str, str]:
    """The query string as an export's audit row records it: the parameters given, without
    the NUL characters Postgres text cannot hold (anyone may add any parameter to a URL)."""
    return {k.replace("\x00", ""): str(v).replace("\x00", "") for k, v in request.GET.items() if v}


__all__ = ["FilterError", "Filters", "Http404", "page_params", "parse_filters", "query_detail"]
