from __future__ import annotations

import datetime as dt
from typing import Any

from opsdash.lib.plotting import PALETTE, figure, numbers, times


def stacked(
    steps: list[dt.datetime], series: dict[str, list[int]], unit: str, colours: dict[str, str] | None = None
) -> dict[str, Any]:
    ordered = sorted(series.items(), key=lambda kv: (-sum(kv[1]), kv[0])) if not colours else list(series.items())
    x = times(steps)
    traces = [
        {
            "type": "bar",
            "x": x,
            "y": numbers(values),
            "name": name,
            "marker": {"color": (colours or {}).get(name, PALETTE[i % len(PALETTE)])},
            "hovertemplate": f"{name}: %{{y}}<extra></extra>",
        }
        for i, (name, values) in enumerate(ordered)
    ]
    return figure(traces, barmode="stack", yaxis={"title": {"text": unit}})
