from __future__ import annotations

import html
import math
from typing import Any

import orjson
from django import template
from django.http import HttpRequest
from django.urls import reverse
from django.utils.safestring import mark_safe

from opsdash.accounts import access

register = template.Library()


@register.simple_tag
def has_perm(perm: str, user: object, obj: object = None) -> bool:
    """`{% has_perm "perm" user obj as var %}` through opsdash's access module: unlike the
    `rules` tag (which asks ``user.has_perm``), a superuser without a role gets nothing."""
    return access.has_perm(user, perm, obj)


@register.simple_tag(takes_context=True)
def query_with(context: template.Context, **changes: object) -> str:
    """The current query string with some parameters replaced, e.g. for pagination links."""
    request: HttpRequest = context["request"]
    params = request.GET.copy()
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.simple_tag
def requery(filters: object, **changes: object) -> str:
    """``?`` and the view's query string from its Filters with some filters changed, one key
    per filter (``{% requery filters tenant=slug %}``; None removes one). "" without filters."""
    if filters is None or not hasattr(filters, "query"):
        return ""
    return f"?{filters.query(**changes)}"


# The main navigation's pages that take the range and tenant of the page the user is on
# (the dashboards), and those that take the tenant alone (the alert list).
NAV_CARRIES_RANGE = frozenset({"overview", "latency", "cost", "evals", "safety"})
NAV_CARRIES_TENANT = frozenset({"alerts"})


@register.simple_tag(takes_context=True)
def nav_href(context: template.Context, name: str) -> str:
    """The link of a main navigation item, carrying what the user chose on this page.

    Kept in the query string rather than remembered in the session: the URL stays the whole
    state of a view (shareable, Back works), and the filter bar of the next page shows it.
    Only a validated Filters is carried (a scoped viewer's tenant is one they may see), and
    the range only when the user picked one, so each page keeps its own default otherwise."""
    url = reverse(name)
    filters = context.get("filters")
    if filters is None or not hasattr(filters, "carried_query"):
        return url
    request: HttpRequest | None = context.get("request")
    if name in NAV_CARRIES_RANGE:
        chose_range = bool(request is not None and request.GET.get("range"))
        query = filters.carried_query(with_range=chose_range)
    elif name in NAV_CARRIES_TENANT and filters.tenant is not None:
        query = filters.carried_query(with_range=False)
    else:
        query = ""
    return f"{url}?{query}" if query else url


@register.filter
def pct(value: float | None, digits: int = 1) -> str:
    """0.0523 → '5.2 %'."""
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f} %"


@register.filter
def percent_change(value: float | None) -> str:
    """0.25 → '+25 %', -0.1 → '−10 %'."""
    if value is None:
        return "—"
    sign = "+" if value >= 0 else "−"
    return f"{sign}{abs(value) * 100:.0f} %"


@register.filter
def ms(value: float | None) -> str:
    """Latency for people, in milliseconds on every page, tile and chart: '840 ms',
    '5,312 ms' (one unit, so numbers side by side compare at a glance)."""
    if value is None:
        return "—"
    return f"{value:,.0f} ms"


def _amount(value: object) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


@register.filter
def usd(value: object, digits: int = 2) -> str:
    """Dollars with thousands separators and 2 decimals: '$1,234.50'."""
    amount = _amount(value)
    if amount is None:
        return "—"
    return f"${amount:,.{digits}f}"


@register.filter
def usd_fine(value: object) -> str:
    """Dollars for small unit costs (per request, per 1k): 2 decimals from a dollar up,
    else 2 significant digits, '$0.50', '$0.012', '$0.00046', so none reads as $0.00."""
    amount = _amount(value)
    if amount is None:
        return "—"
    if amount == 0 or abs(amount) >= 1:
        return f"${amount:,.2f}"
    decimals = max(2, 1 - math.floor(math.log10(abs(amount))))
    return f"${amount:.{decimals}f}"


@register.filter
def split(value: str, sep: str = " ") -> list[str]:
    return value.split(sep)


@register.filter
def pp(value: float | None) -> str:
    """A difference of two rates in percentage points: 0.123 → '+12.3 pp'."""
    if value is None:
        return "—"
    sign = "+" if value >= 0 else "−"
    return f"{sign}{abs(value) * 100:.1f} pp"


@register.filter
def duration(value: object) -> str:
    """A timedelta for people: '5 minutes', '1 hour', '3 hours', '1 day'."""
    import datetime as dt

    if not isinstance(value, dt.timedelta):
        return ""
    seconds = int(value.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def _plain(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


@register.filter
def change_summary(event: object) -> str:
    """An audit event's before/after as 'role: viewer → operator; tenants: all → acme'."""
    before = getattr(event, "before", None) or {}
    after = getattr(event, "after", None) or {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        return f"{before} → {after}"
    parts = []
    for key in list(dict.fromkeys([*before, *after])):
        old, new = before.get(key), after.get(key)
        if key in before and key in after:
            if old != new:
                parts.append(f"{key}: {_plain(old)} → {_plain(new)}")
        elif key in after:
            parts.append(f"{key}: {_plain(new)}")
        else:
            parts.append(f"{key}: {_plain(old)} → removed")
    return "; ".join(parts)


# Long lists rendered in one call: a template loop costs about a millisecond per few rows,
# which on a 200-tenant fleet was a good part of a dashboard's time.


# Escaped with html.escape directly: format_html_join's per-value conditional_escape cost
# more than the rest of the tag.


@register.simple_tag
def tenant_options(tenants: object, selected: str = "") -> str:
    """<option>s of a tenant picker, the chosen slug selected."""
    options = []
    for slug in (t.slug for t in tenants):  # type: ignore[attr-defined]
        text = html.escape(slug)
        options.append(f'<option value="{text}"{" selected" if slug == selected else ""}>{text}</option>')
    return mark_safe("".join(options))  # noqa: S308 (every value escaped above)


@register.simple_tag
def quantile_table_rows(rows: list[dict[str, object]]) -> str:
    """The rows of the latency page's table view (time, p50, p95, p99, TTFT p95)."""
    # Times and numbers formatted here hold nothing to escape.
    return mark_safe(  # noqa: S308
        "".join(
            f'<tr><td>{r["t"]:%Y-%m-%d %H:%M}</td><td class="num">{ms(r["p50"])}</td>'  # type: ignore[arg-type]
            f'<td class="num">{ms(r["p95"])}</td><td class="num">{ms(r["p99"])}</td>'  # type: ignore[arg-type]
            f'<td class="num">{ms(r["ttft_p95"])}</td></tr>'  # type: ignore[arg-type]
            for r in rows
        )
    )


@register.simple_tag
def cost_table_rows(rows: object) -> str:
    """The rows of the cost page's tenant table (see web/dashboards.tenant_cost_table)."""
    from django.contrib.humanize.templatetags.humanize import intcomma
    from django.urls import reverse

    # One reverse() for the page: a tenant's link differs only by its slug.
    link = reverse("tenant-detail", args=["-slug-"])
    out = []
    for r in rows:  # type: ignore[attr-defined]
        totals, tenant = r["totals"], r["tenant"]
        slug = html.escape(tenant.slug)
        paused = ' <span class="badge badge-paused">paused</span>' if tenant.is_paused else ""
        # A count of requests, kept apart from the dollars it is not part of.
        unpriced = (
            f"{intcomma(totals.cost_unknown)} request{'s' if totals.cost_unknown != 1 else ''} unpriced"
            if totals.cost_unknown
            else "—"
        )
        over_today = " worse" if r["used_today"] is not None and r["used_today"] > 1 else ""
        over_month = " worse" if r["used"] is not None and r["used"] > 1 else ""
        over_forecast = " worse" if r["forecast_over"] else ""
        out.append(
            f'<tr><td><a href="{link.replace("-slug-", slug)}">{slug}</a>{paused}</td>'
            f'<td class="num">{intcomma(totals.requests)}</td>'
            f'<td class="num">{usd(totals.cost_usd)}</td>'
            f'<td class="num muted">{unpriced}</td>'
            f'<td class="num{over_today}">{usd(r["today"])}</td>'
            f'<td class="num">{usd(r["daily_budget"])}</td>'
            f'<td class="num{over_today}">{pct(r["used_today"], 0)}</td>'
            f'<td class="num{over_month}">{usd(r["month"])}</td>'
            f'<td class="num">{usd(r["monthly_budget"])}</td>'
            f'<td class="num{over_month}">{pct(r["used"], 0)}</td>'
            f'<td class="num{over_forecast}">{usd(r["forecast"])}</td>'
            f'<td class="num">{usd_fine(totals.cost_per_1k)}</td>'
            f'<td class="num">{usd_fine(totals.cost_per_success)}</td>'
            f'<td class="num">{intcomma(totals.input_tokens)}</td>'
            f'<td class="num">{intcomma(totals.output_tokens)}</td></tr>'
        )
    # Slugs escaped above; the rest are numbers formatted here.
    return mark_safe("".join(out))  # noqa: S308


_JSON_ESCAPES = (("<", "\\u003C"), (">", "\\u003E"), ("&", "\\u0026"))


@register.filter(is_safe=True)
def chart_json(figure: Any, element_id: str) -> str:
    """A plotly figure in a ``<script type="application/json">``, as ``json_script`` writes
    it (the same escapes, so no text in it can close the element), but serialised by orjson
    and escaped with three replaces: on a week of hourly lines per route and model,
    ``json_script`` took a quarter of the latency page."""
    text = orjson.dumps(figure, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()
    for char, escape in _JSON_ESCAPES:
        text = text.replace(char, escape)
    return mark_safe(f'<script id="{html.escape(element_id)}" type="application/json">{text}</script>')  # noqa: S308 (escaped above)
