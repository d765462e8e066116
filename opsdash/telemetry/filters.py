"""What a read of the rollups is narrowed by: the range, the tenants in scope, one of
route / model / prompt (the rollups are grouped by one dimension beside the tenant, see
telemetry/rollups.py). The selectors of telemetry, safety and alerts take a Filters; the
pages build one from the query string (opsdash.web.filters.parse_filters).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from opsdash.lib.timerange import TimeRange
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
# Parameters of a page's view that are not filters of the data but belong in its links: the
# breakdown of /latency/ (by) and the kind of /safety/. A link that changes one filter keeps
# them, so clicking a slow model does not snap the breakdown back to routes.
PAGE_PARAMS = ("by", "kind")


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
    # PAGE_PARAMS present in the query string, in that order: (name, value) pairs.
    page_params: tuple[tuple[str, str], ...] = field(default=())

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
        """This view's query string with some filters changed (None removes one).

        One key per filter, whatever was changed: a link built from it never says
        ``tenant=a&tenant=b`` (which value wins would be up to the reader)."""
        params = QueryDict(mutable=True)
        values: dict[str, str] = dict(self.range.query())
        if self.tenant is not None:
            values["tenant"] = self.tenant.slug
        for name in ("route", "model"):
            if getattr(self, name):
                values[name] = getattr(self, name)
        if self.prompt:
            values["prompt"] = self.prompt
        values.update(self.page_params)
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
        return params.urlencode(safe="/:@")

    def carried_query(self, *, with_range: bool = True) -> str:
        """The range and tenant alone, for links to the other pages: what the user chose
        follows them across the navigation; the narrowing filters and page parameters
        belong to this page and stay behind."""
        values: dict[str, str] = dict(self.range.query()) if with_range else {}
        if self.tenant is not None:
            values["tenant"] = self.tenant.slug
        params = QueryDict(mutable=True)
        for key, value in values.items():
            params[key] = value
        return params.urlencode(safe="/:@")
