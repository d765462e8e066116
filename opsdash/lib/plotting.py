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
import math
from collections.abc import Iterable
from functools import cache
from typing import Any

# Okabe–Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
# Sequential scale for heatmaps (viridis reads well in greyscale too).
HEATMAP_SCALE = "Viridis"


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
    out: list[float | None] = []
    for value in values:
        if value is None:
            out.append(None)
            continue
        number = float(value)
        out.append(number if math.isfinite(number) else None)
    return out


def figure(traces: list[dict[str, Any]], **layout: Any) -> dict[str, Any]:
    return {"data": traces, "layout": base_layout(**layout)}
