"""Shared look of every plotly figure: colour-blind-safe colours, units on axes,
and the JSON the page's charts.js draws.

Figures are written as plotly's JSON (``{"data": [...], "layout": {...}}``) directly:
``plotly.graph_objects`` validates every property on assignment, which costs tens of
milliseconds per figure and was most of a dashboard's time. ``tests/lib/test_plotting.py``
checks that every figure we build is one plotly accepts.
"""

from __future__ import annotations

import copy
import datetime as dt
import html
import zlib
from collections.abc import Iterable
from functools import cache
from typing import Any

import numpy as np

# Okabe–Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
# Sequential scale for heatmaps (viridis reads well in greyscale too).
HEATMAP_SCALE = "Viridis"

# Series that stand for a name (a tenant, model, route, safety kind) keep one colour
# wherever they are drawn: picked from the name, never from the series' position in a
# chart, which changes with the range. Okabe–Ito without black and its pale yellow, then
# Paul Tol's muted and dark colours: 14 that stay apart, none of them grey.
DISTINCT = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#882255",
    "#117733", "#332288", "#44AA99", "#AA4499", "#999933", "#661100", "#DDCC77",
]  # fmt: skip
# "other" (everything outside the top few) is grey, a colour no name gets.
OTHER_COLOUR = "#9AA0A6"
OTHER_NAMES = frozenset({"other", "other tenants"})
# Every time axis is UTC, and says so, on the axis and in the hover.
UTC_HOVER = "%Y-%m-%d %H:%M UTC"


def colour_for(name: object, fixed: dict[str, str] | None = None) -> str:
    """The colour of a named series: a fixed one when given, grey for "other", else one
    of DISTINCT picked by a hash of the name (stable across ranges, processes and
    restarts; two names may share a colour, which is why fixed maps exist for the names
    that matter most)."""
    text = str(name)
    if fixed and text in fixed:
        return fixed[text]
    if text in OTHER_NAMES:
        return OTHER_COLOUR
    return DISTINCT[zlib.crc32(text.encode()) % len(DISTINCT)]


def indexed_colour(number: int) -> str:
    """The colour of something with a stable number (a tenant's id): neighbours differ."""
    return DISTINCT[number % len(DISTINCT)]


# Below a titled time axis, the legend starts under the title instead of over it.
LEGEND_BELOW = {"orientation": "h", "y": -0.3, "yanchor": "top"}


def time_axis(**extra: Any) -> dict[str, Any]:
    """An x axis of time: titled, in UTC, and UTC in the hover."""
    return {"title": {"text": "time (UTC)"}, "hoverformat": UTC_HOVER, **extra}


@cache
def _template() -> dict[str, Any]:
    """plotly's "plotly_white" template as JSON (plotly.js knows no template names)."""
    import plotly.io as pio

    return pio.templates["plotly_white"].to_plotly_json()


def base_layout(**overrides: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "template": _template(),
        "colorway": PALETTE,
        "margin": {"l": 60, "r": 20, "t": 30, "b": 50},
        "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": -0.2},
        "height": 320,
    }
    layout.update(copy.deepcopy(overrides))
    return layout


def times(steps: Iterable[dt.datetime]) -> list[str]:
    """Chart times as plotly reads them: UTC wall-clock strings."""
    return [t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") for t in steps]


def numbers(values: Iterable[Any]) -> list[float | None]:
    """Plain floats for JSON, None (a gap) where a value is missing or not finite."""
    if not isinstance(values, np.ndarray):
        values = [np.nan if v is None else v for v in values]
    array = np.asarray(values, dtype=np.float64)
    # NaN is the one value unequal to itself; infinities become gaps as well.
    return [None if x != x else x for x in np.where(np.isfinite(array), array, np.nan).tolist()]


def plotly_text(value: str) -> str:
    """Text plotly draws as its pseudo-HTML (legend names, category labels, hover): its
    markup characters as entities, so a route or model name a producer sent stays text
    (no link, no bold) on every chart."""
    return html.escape(value, quote=False)


def figure(traces: list[dict[str, Any]], **layout: Any) -> dict[str, Any]:
    for trace in traces:
        if isinstance(trace.get("name"), str):
            trace["name"] = plotly_text(trace["name"])
        for axis in ("x", "y"):
            values = trace.get(axis)
            if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
                trace[axis] = [plotly_text(v) for v in values]
    return {"data": traces, "layout": base_layout(**layout)}
