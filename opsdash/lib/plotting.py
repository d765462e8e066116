"""Shared look of every plotly figure: colour-blind-safe colours, units on axes,
and the JSON the page's charts.js draws."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

# Okabe–Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
# Sequential scale for heatmaps (viridis reads well in greyscale too).
HEATMAP_SCALE = "Viridis"


def base_layout(**overrides: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "template": "plotly_white",
        "colorway": PALETTE,
        "margin": {"l": 60, "r": 20, "t": 30, "b": 50},
        "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": -0.2},
        "height": 320,
    }
    layout.update(overrides)
    return layout


def figure_json(figure: go.Figure) -> dict[str, Any]:
    """The figure as plain JSON-able data for ``json_script``."""
    import json

    return json.loads(figure.to_json())
