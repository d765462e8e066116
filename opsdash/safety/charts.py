from __future__ import annotations

import datetime as dt
from typing import Any

from opsdash.lib.plotting import DISTINCT, LEGEND_BELOW, colour_for, figure, numbers, time_axis, times

# The kinds and severities of flags keep their colours on every range and page; a kind
# not named here gets one from its name (lib.plotting.colour_for).
KIND_COLOURS = {
    "jailbreak": DISTINCT[3], "prompt_injection": DISTINCT[4], "pii": DISTINCT[0], "toxicity": DISTINCT[1],
}  # fmt: skip
SEVERITY_COLOURS = {
    "critical": "#B3261E", "high": DISTINCT[3], "medium": DISTINCT[1], "low": DISTINCT[5],
    "warning": DISTINCT[1], "info": DISTINCT[0],
}  # fmt: skip


def stacked(
    steps: list[dt.datetime], series: dict[str, list[int]], unit: str, colours: dict[str, str] | None = None
) -> dict[str, Any]:
    """Counts per step stacked by name. Without ``colours`` the biggest series is at the
    bottom (equal totals by name); with them, in the order given. Colours come from the
    names, never from the order."""
    ordered = sorted(series.items(), key=lambda kv: (-sum(kv[1]), kv[0])) if not colours else list(series.items())
    x = times(steps)
    traces = [
        {
            "type": "bar",
            "x": x,
            "y": numbers(values),
            "name": name,
            "marker": {"color": colour_for(name, colours or KIND_COLOURS)},
            "hovertemplate": "%{fullData.name}: %{y:,}<extra></extra>",
        }
        for name, values in ordered
    ]
    return figure(
        traces,
        barmode="stack",
        xaxis=time_axis(),
        yaxis={"title": {"text": unit}},
        hoverlabel={"namelength": -1},
        legend=LEGEND_BELOW,
    )
