"""Plotly figures for the latency, cost and overview pages, as JSON for charts.js."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from opsdash.lib import histogram
from opsdash.lib.plotting import HEATMAP_SCALE, PALETTE, figure, numbers, times

# The heatmap shows 4 rows per doubling (16 fine buckets merged 4 by 4): enough to see
# the shape, few enough to read.
HEATMAP_MERGE = 4


def _ms(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.3g} s"
    return f"{value:.3g} ms"


def _heatmap_labels(rows: int) -> list[str]:
    labels = ["< 1 ms"]
    for row in range(1, rows - 1):
        first = (row - 1) * HEATMAP_MERGE + 1
        last = min(first + HEATMAP_MERGE - 1, histogram.LOG_BUCKETS)
        labels.append(f"{_ms(histogram.lower_bound(first))}–{_ms(histogram.upper_bound(last))}")
    labels.append(f"≥ {_ms(histogram.MAX_EDGE)}")
    return labels


def latency_heatmap(steps: list[dt.datetime], matrix: np.ndarray) -> dict[str, Any]:
    """``matrix`` is steps × display rows of request counts (see selectors.heatmap_counts)."""
    labels = _heatmap_labels(matrix.shape[1])
    merged = matrix.T  # rows × steps
    used = np.nonzero(merged.sum(axis=1))[0]
    if used.size:
        lo, hi = max(int(used[0]) - 1, 0), min(int(used[-1]) + 2, len(labels))
    else:
        lo, hi = 0, 1
    z = merged[lo:hi].astype(float)
    z[z == 0] = np.nan  # empty cells stay blank instead of the lowest colour
    trace = {
        "type": "heatmap",
        "x": times(steps),
        "y": labels[lo:hi],
        "z": [numbers(row) for row in z],
        "colorscale": HEATMAP_SCALE,
        "colorbar": {"title": {"text": "requests"}},
        "hovertemplate": "%{x|%Y-%m-%d %H:%M} UTC<br>latency %{y}<br>%{z:,} requests<extra></extra>",
    }
    return figure(
        [trace],
        height=360,
        hovermode="closest",
        yaxis={"title": {"text": "latency (log buckets)"}},
        xaxis={"title": {"text": "time (UTC)"}},
    )


def quantile_lines(
    steps: list[dt.datetime],
    lines: dict[str, list[float | None]],
    title: str = "latency (ms)",
    slo_ms: float | None = None,
) -> dict[str, Any]:
    x = times(steps)
    traces = [
        {
            "type": "scatter",
            "x": x,
            "y": numbers(values),
            "name": name,
            "mode": "lines",
            "line": {"color": PALETTE[i % len(PALETTE)], "width": 2},
            "connectgaps": False,
            "hovertemplate": "%{y:,.0f} ms",
        }
        for i, (name, values) in enumerate(lines.items())
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
                "text": f"SLO {slo_ms:g} ms", "showarrow": False,
            }
        ]  # fmt: skip
    return figure(traces, yaxis={"title": {"text": title}, "rangemode": "tozero"}, **extra)


def sparkline(steps: list[dt.datetime], values: np.ndarray | list[float], color: str = PALETTE[0]) -> dict[str, Any]:
    trace = {
        "type": "scatter",
        "x": times(steps),
        "y": numbers(values),
        "mode": "lines",
        "line": {"color": color, "width": 1.5},
        "fill": "tozeroy",
        "hovertemplate": "%{x|%b %d %H:%M} %{y:,.3~g}<extra></extra>",
    }
    return figure(
        [trace],
        height=48,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        showlegend=False,
        hovermode="x",
        xaxis={"visible": False},
        yaxis={"visible": False, "rangemode": "tozero"},
    )


def stacked_cost(steps: list[dt.datetime], stacks: dict[str, np.ndarray]) -> dict[str, Any]:
    x = times(steps)
    traces = [
        {
            "type": "bar",
            "x": x,
            "y": numbers(values),
            "name": name,
            "marker": {"color": PALETTE[i % len(PALETTE)]},
            "hovertemplate": f"{name}: $%{{y:,.2f}}<extra></extra>",
        }
        for i, (name, values) in enumerate(stacks.items())
    ]
    return figure(traces, barmode="stack", yaxis={"title": {"text": "cost (USD)"}, "tickprefix": "$"})


def bars(labels: list[str], values: list[float], axis_title: str, prefix: str = "") -> dict[str, Any]:
    trace = {
        "type": "bar",
        "x": numbers(values),
        "y": labels,
        "orientation": "h",
        "marker": {"color": PALETTE[0]},
        "hovertemplate": f"%{{y}}: {prefix}%{{x:,.2f}}<extra></extra>",
    }
    return figure(
        [trace],
        height=max(160, 28 * len(labels) + 60),
        hovermode="closest",
        xaxis={"title": {"text": axis_title}, "tickprefix": prefix},
        yaxis={"autorange": "reversed"},
    )
