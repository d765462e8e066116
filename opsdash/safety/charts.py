from __future__ import annotations

import datetime as dt
from typing import Any

import plotly.graph_objects as go

from opsdash.lib.plotting import PALETTE, base_layout, figure_json


def stacked(
    steps: list[dt.datetime], series: dict[str, list[int]], unit: str, colours: dict[str, str] | None = None
) -> dict[str, Any]:
    figure = go.Figure()
    for i, (name, values) in enumerate(
        sorted(series.items(), key=lambda kv: -sum(kv[1])) if not colours else series.items()
    ):
        colour = (colours or {}).get(name, PALETTE[i % len(PALETTE)])
        figure.add_trace(
            go.Bar(
                x=steps, y=values, name=name, marker={"color": colour}, hovertemplate=f"{name}: %{{y}}<extra></extra>"
            )
        )
    figure.update_layout(base_layout(barmode="stack", yaxis={"title": {"text": unit}}))
    return figure_json(figure)
