"""Plotly figures for the latency, cost and overview pages, as JSON for charts.js.

Every time axis is titled and in UTC (hover included); latency is in milliseconds on
every chart, as in the tables and tiles (the ``ms`` template filter); a named series
(tenant, model, route) has the same colour on every range (lib.plotting.colour_for).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np

from opsdash.lib import histogram
from opsdash.lib.plotting import (
    DISTINCT,
    HEATMAP_SCALE,
    LEGEND_BELOW,
    UTC_HOVER,
    colour_for,
    figure,
    indexed_colour,
    numbers,
    time_axis,
    times,
)

# The heatmap shows 4 rows per doubling (16 fine buckets merged 4 by 4): enough to see
# the shape, few enough to read.
HEATMAP_MERGE = 4
# The heatmap's brightest colour is the count this share of the non-empty cells stay
# under: a single busy cell (or one odd minute) must not make every other cell dark.
HEATMAP_TOP_PERCENTILE = 99
# Percentile lines keep their colours on every chart.
QUANTILE_COLOURS = {
    "p50": DISTINCT[0], "p95": DISTINCT[1], "p99": DISTINCT[3],
    "TTFT p50": DISTINCT[0], "TTFT p95": DISTINCT[1],
}  # fmt: skip
BUDGET_OK, BUDGET_OVER = "#0072B2", "#B3261E"
DASHES = ["solid", "dash", "dot", "dashdot"]
# Sparklines are a glance: no toolbar over a 48-pixel chart.
SPARK_CONFIG = {"displayModeBar": False}


def ms_label(value: float) -> str:
    """A latency band edge in ms, three significant digits: '0.5', '12.3', '1,190', '36,800'."""
    rounded = float(f"{value:.3g}")
    return f"{rounded:,.0f}" if rounded >= 100 else f"{rounded:g}"


def _heatmap_labels(rows: int) -> list[str]:
    # In ms, as the axis title says: short labels leave the chart its width on a phone.
    labels = ["< 1"]
    for row in range(1, rows - 1):
        first = (row - 1) * HEATMAP_MERGE + 1
        last = min(first + HEATMAP_MERGE - 1, histogram.LOG_BUCKETS)
        labels.append(f"{ms_label(histogram.lower_bound(first))}–{ms_label(histogram.upper_bound(last))}")
    labels.append(f"≥ {ms_label(histogram.MAX_EDGE)}")
    return labels


def heatmap_scale(counts: np.ndarray) -> tuple[float, float]:
    """(zmin, zmax) of the heatmap's log10 colour axis for these cell counts.

    Colour is log10(count): a band of 10 slow requests in an hour of 2,000 fast ones
    reads a third of the way up the scale instead of a sliver above the bottom. The top
    is the HEATMAP_TOP_PERCENTILE-th percentile of the non-empty cells, so one outlier
    cannot set it (cells above it take the brightest colour)."""
    filled = counts[counts > 0]
    if not filled.size:
        return 0.0, 1.0
    top = float(np.percentile(filled, HEATMAP_TOP_PERCENTILE))
    return 0.0, max(math.log10(max(top, 2.0)), math.log10(2.0))


def _log_ticks(zmax: float) -> tuple[list[float], list[str]]:
    values, labels = [], []
    for decade in range(int(zmax) + 1):
        for first in (1, 2, 5):
            n = first * 10**decade
            if math.log10(n) <= zmax + 1e-9:
                values.append(math.log10(n))
                labels.append(f"{n:,}")
    return values, labels


def latency_heatmap(steps: list[dt.datetime], matrix: np.ndarray) -> dict[str, Any]:
    """``matrix`` is steps × display rows of request counts (see selectors.heatmap_counts)."""
    labels = _heatmap_labels(matrix.shape[1])
    merged = matrix.T  # rows × steps
    used = np.nonzero(merged.sum(axis=1))[0]
    if used.size:
        lo, hi = max(int(used[0]) - 1, 0), min(int(used[-1]) + 2, len(labels))
    else:
        lo, hi = 0, 1
    counts = merged[lo:hi].astype(float)
    zmin, zmax = heatmap_scale(counts)
    with np.errstate(divide="ignore"):
        z = np.log10(counts)
    z[counts == 0] = np.nan  # empty cells stay blank instead of the lowest colour
    counts[counts == 0] = np.nan
    tickvals, ticktext = _log_ticks(zmax)
    trace = {
        "type": "heatmap",
        "x": times(steps),
        "y": labels[lo:hi],
        "z": [numbers(row) for row in z],
        "customdata": [numbers(row) for row in counts],
        "zmin": zmin,
        "zmax": zmax,
        "colorscale": HEATMAP_SCALE,
        # Under the chart, not beside it: the cells keep the width (a phone has little).
        "colorbar": {
            "title": {"text": "requests per cell (log scale)", "side": "top"},
            "tickvals": tickvals,
            "ticktext": ticktext,
            "orientation": "h",
            "y": -0.45,
            "yanchor": "top",
            "len": 0.7,
            "thickness": 12,
        },
        "hovertemplate": f"%{{x|{UTC_HOVER}}}<br>latency %{{y}} ms<br>%{{customdata:,}} requests<extra></extra>",
    }
    return figure(
        [trace],
        height=480,
        hovermode="closest",
        margin={"l": 50, "r": 10, "t": 20, "b": 150},
        yaxis={"title": {"text": "latency (ms)"}, "automargin": True, "tickfont": {"size": 10}},
        xaxis=time_axis(),
    )


def tenant_colour(tenant_id: int) -> str:
    """A tenant's colour, from its id: the same on every range, and tenants created one
    after another differ."""
    return indexed_colour(tenant_id)


def line_styles(names: list[str], fixed: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Colour (stable, from the name) and dash of each line. Two names whose colours meet
    in one chart tell apart by dash, so the colour never moves with the range."""
    seen: dict[str, int] = {}
    styles = {}
    for name in sorted(names):
        colour = colour_for(name, fixed)
        repeat = seen.get(colour, 0)
        seen[colour] = repeat + 1
        styles[name] = {"color": colour, "dash": DASHES[repeat % len(DASHES)]}
    return styles


def quantile_lines(
    steps: list[dt.datetime],
    lines: dict[str, list[float | None]],
    title: str = "latency (ms)",
    slo_ms: float | None = None,
) -> dict[str, Any]:
    x = times(steps)
    styles = line_styles(list(lines), QUANTILE_COLOURS)
    traces = [
        {
            "type": "scatter",
            "x": x,
            "y": numbers(values),
            "name": name,
            "mode": "lines",
            "line": {**styles[name], "width": 2},
            "connectgaps": False,
            "hovertemplate": "%{y:,.0f} ms",
        }
        for name, values in lines.items()
    ]
    extra: dict[str, Any] = {}
    if slo_ms is not None:
        extra["shapes"] = [
            {
                "type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": slo_ms, "y1": slo_ms,
                "line": {"dash": "dash", "color": "#B3261E"},
            }
        ]  # fmt: skip
        extra["annotations"] = [
            {
                "xref": "paper", "x": 1, "xanchor": "right", "yref": "y", "y": slo_ms, "yanchor": "bottom",
                "text": f"SLO {slo_ms:,g} ms", "showarrow": False,
            }
        ]  # fmt: skip
    return figure(
        traces,
        xaxis=time_axis(),
        yaxis={"title": {"text": title}, "rangemode": "tozero", "tickformat": ",~r"},
        legend=LEGEND_BELOW,
        **extra,
    )


def error_rate_lines(
    steps: list[dt.datetime], rates: dict[str, list[float | None]], requests: dict[str, list[float]], by: str
) -> dict[str, Any]:
    """Share of requests that failed (error or timeout) per step, one line per ``by`` value;
    a gap where a step had no requests."""
    x = times(steps)
    styles = line_styles(list(rates))
    traces = [
        {
            "type": "scatter",
            "x": x,
            "y": numbers(None if v is None else v * 100 for v in values),
            "customdata": numbers(requests[name]),
            "name": name,
            "mode": "lines",
            "line": {**styles[name], "width": 2},
            "connectgaps": False,
            "hovertemplate": "%{fullData.name}: %{y:.1f} % of %{customdata:,} requests<extra></extra>",
        }
        for name, values in rates.items()
    ]
    return figure(
        traces,
        xaxis=time_axis(),
        yaxis={"title": {"text": f"failed requests by {by} (%)"}, "rangemode": "tozero", "ticksuffix": " %"},
        legend=LEGEND_BELOW,
    )


def sparkline(steps: list[dt.datetime], values: np.ndarray | list[float], color: str = DISTINCT[0]) -> dict[str, Any]:
    trace = {
        "type": "scatter",
        "x": times(steps),
        "y": numbers(values),
        "mode": "lines",
        "line": {"color": color, "width": 1.5},
        "fill": "tozeroy",
        "hovertemplate": f"%{{x|{UTC_HOVER}}}: %{{y:,.3~g}}<extra></extra>",
    }
    spark = figure(
        [trace],
        height=48,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        showlegend=False,
        hovermode="x",
        xaxis={"visible": False},
        yaxis={"visible": False, "rangemode": "tozero"},
    )
    spark["config"] = SPARK_CONFIG
    return spark


def stacked_cost(
    steps: list[dt.datetime], stacks: dict[str, np.ndarray], colours: dict[str, str] | None = None
) -> dict[str, Any]:
    """Cost per step stacked by tenant; ``colours`` per tenant (see tenant_colour), the
    rest of the tenants grey."""
    x = times(steps)
    traces = [
        {
            "type": "bar",
            "x": x,
            "y": numbers(values),
            "name": name,
            "marker": {"color": (colours or {}).get(name) or colour_for(name)},
            "hovertemplate": "%{fullData.name}: $%{y:,.2f}<extra></extra>",
        }
        for name, values in stacks.items()
    ]
    return figure(
        traces,
        barmode="stack",
        xaxis=time_axis(),
        yaxis={"title": {"text": "cost (USD)"}, "tickprefix": "$"},
        legend=LEGEND_BELOW,
    )


def bars(labels: list[str], values: list[float], axis_title: str, prefix: str = "") -> dict[str, Any]:
    trace = {
        "type": "bar",
        "x": numbers(values),
        "y": labels,
        "orientation": "h",
        "marker": {"color": [colour_for(label) for label in labels]},
        "hovertemplate": f"%{{y}}: {prefix}%{{x:,.2f}}<extra></extra>",
    }
    return figure(
        [trace],
        height=max(160, 28 * len(labels) + 60),
        hovermode="closest",
        margin={"l": 20, "r": 20, "t": 30, "b": 50},
        xaxis={"title": {"text": axis_title}, "tickprefix": prefix},
        yaxis={"autorange": "reversed", "automargin": True},
    )


def budget_bars(labels: list[str], today: list[float | None], month: list[float | None]) -> dict[str, Any]:
    """Share of the daily and the monthly budget used per tenant, as horizontal bars in
    %, red past 100 % (a dashed line marks 100 %). ``None``: no budget of that kind."""

    def trace(name: str, used: list[float | None], pattern: str) -> dict[str, Any]:
        pct = [None if u is None else u * 100 for u in used]
        return {
            "type": "bar",
            "orientation": "h",
            "name": name,
            "y": labels,
            "x": numbers(pct),
            "marker": {
                "color": [BUDGET_OVER if p is not None and p > 100 else BUDGET_OK for p in pct],
                # The monthly bars hatched: the two tell apart in the legend too.
                "pattern": {"shape": pattern, "fgcolor": "#ffffff", "size": 6},
                "line": {"color": "#1b1f24", "width": 0.5},
            },
            "text": [("" if p is None else f"{p:,.0f} %") for p in pct],
            "textposition": "outside",
            "cliponaxis": False,
            "hovertemplate": f"%{{y}}: %{{x:,.0f}} % of the {name}<extra></extra>",
        }

    shown = [u for u in [*today, *month] if u is not None]
    top = max([1.0, *shown]) * 100
    return figure(
        [trace("daily budget", today, ""), trace("monthly budget", month, "/")],
        barmode="group",
        height=max(180, 44 * len(labels) + 80),
        hovermode="closest",
        margin={"l": 20, "r": 20, "t": 40, "b": 50},
        xaxis={"title": {"text": "budget used (%)"}, "ticksuffix": " %", "range": [0, top * 1.2]},
        yaxis={"autorange": "reversed", "automargin": True},
        shapes=[
            {
                "type": "line", "xref": "x", "x0": 100, "x1": 100, "yref": "paper", "y0": 0, "y1": 1,
                "line": {"dash": "dash", "color": BUDGET_OVER},
            }
        ],
        # Above the bars: below, a short chart has no room for it under the axis title.
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
    )  # fmt: skip
