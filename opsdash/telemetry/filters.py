"""The filters every dashboard shares, read from the query string.

Filters live in the URL so a view can be shared and the back button works. Tenant
must be visible to the user (404 otherwise, as for any tenant URL); route, model and
prompt narrow further. One of route / model / prompt at a time: the rollups are
grouped by one dimension beside the tenant (see telemetry/rollups.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.http import Http404, HttpRequest, QueryDict
from django.utils import timezone

from opsdash.accounts import access
from opsdash.lib.timerange import RangeError, TimeRange, parse_range
from opsdash.tenants.models import Tenant

# Mirrors telemetry/rollups.py: which grouping holds rows for a set of dimensions.
GROUPING_FOR: dict[frozenset[str], int] = {
    frozenset(): 0,
    frozenset({"route"}): 1,
    frozenset({"model"}): 2,
    frozenset({"prompt"}): 3,
    frozenset({"tenant"}): 4,
    frozenset({"tenant", "route"}): 5,
    frozenset({"tenant", "model"}): 6,
    frozenset({"tenant", "prompt"}): 7,
}
NARROWING = ("route", "model", "prompt")
MAX_TEXT = 200


class FilterError(ValueError):
    pass


@dataclass(frozen=True)
class Filters:
    range: TimeRange
    tenant: Tenant | None = None
    route: str = ""
    model: str = ""
    prompt_id: str = ""
    prompt_version: str = ""
    # The tenants the user may see: None = every tenant.
    scope: frozenset[int] | None = None
    errors: tuple[str, ...] = field(default=())

    @property
    def prompt(self) -> str:
        if not self.prompt_id:
            return ""
        return f"{self.prompt_id}@{self.prompt_version}" if self.prompt_version else self.prompt_id

    @property
    def narrowed_by(self) -> str | None:
        for name in NARROWING:
            if getattr(self, name if name != "prompt" else "prompt_id"):
                return name
        return None

    def tenant_ids(self) -> frozenset[int] | None:
        """Tenants to read: the chosen one, else the user's scope (None = all)."""
        if self.tenant is not None:
            return frozenset({self.tenant.pk})
        return self.scope

    def grouping(self, by: str | None = None) -> int:
        """The rollup grouping that answers these filters, broken down by ``by``."""
        dims = set()
        if self.tenant_ids() is not None or by == "tenant":
            dims.add("tenant")
        if self.narrowed_by:
            dims.add(self.narrowed_by)
        if by and by != "tenant":
            dims.add(by)
        key = frozenset(dims)
        if key not in GROUPING_FOR:
            raise FilterError("Break down by one of route, model or prompt at a time, or clear that filter.")
        return GROUPING_FOR[key]

    def dimension_filters(self) -> dict[str, str]:
        out = {}
        if self.route:
            out["route"] = self.route
        if self.model:
            out["model"] = self.model
        if self.prompt_id:
            out["prompt_id"] = self.prompt_id
            if self.prompt_version:
                out["prompt_version"] = self.prompt_version
        return out

    def query(self, **changes: Any) -> str:
        """This view's query string with some filters changed (None removes one)."""
        params = QueryDict(mutable=True)
        values: dict[str, str] = dict(self.range.query())
        if self.tenant is not None:
            values["tenant"] = self.tenant.slug
        for name in ("route", "model"):
            if getattr(self, name):
                values[name] = getattr(self, name)
        if self.prompt:
            values["prompt"] = self.prompt
        for key, value in changes.items():
            if value is None or value == "":
                values.pop(key, None)
            else:
                values[key] = str(value)
        if "range" in changes and changes["range"] != "custom":
            values.pop("from", None)
            values.pop("to", None)
        for key, value in values.items():
            params[key] = value
        return params.urlencode()


def _text(params: QueryDict, name: str) -> str:
    value = (params.get(name) or "").strip()
    if len(value) > MAX_TEXT:
        raise FilterError(f"'{name}' is longer than {MAX_TEXT} characters.")
    return value


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
    )
    narrowing = [name for name in NARROWING if getattr(filters, name if name != "prompt" else "prompt_id")]
    if len(narrowing) > 1:
        raise FilterError(f"Filter by one of route, model or prompt at a time (got {' and '.join(narrowing)}).")
    return filters


__all__ = ["FilterError", "Filters", "Http404", "parse_filters"]
