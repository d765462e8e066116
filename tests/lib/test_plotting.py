"""Figures are written as plotly JSON by hand: plotly itself must accept every one."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import plotly.graph_objects as go
import pytest

from opsdash.safety import charts as safety_charts
from opsdash.web import charts

STEPS = [dt.datetime(2026, 11, 23, h, tzinfo=dt.UTC) for h in range(6)]


def figures():
    heat = np.zeros((len(STEPS), 70), dtype=np.int64)
    heat[2, 30] = 5
    yield charts.latency_heatmap(STEPS, heat)
    yield charts.quantile_lines(STEPS, {"p95": [1.0, None, 3.0, np.nan, 5.0, 6.0]}, slo_ms=300)
    yield charts.sparkline(STEPS, np.array([1.0, 2.0, np.inf, 0.0, 1.0, 2.0]))
    yield charts.stacked_cost(STEPS, {"acme": np.arange(6.0)})
    yield charts.bars(["gpt-4o"], [1.5], "cost (USD)", "$")
    yield safety_charts.stacked(STEPS, {"jailbreak": [0, 1, 2, 3, 4, 5]}, "flags")


@pytest.mark.parametrize("figure", list(figures()))
def test_it_builds_figures_plotly_accepts(figure):
    go.Figure(figure)  # raises on any property plotly does not know
    text = json.dumps(figure, allow_nan=False)  # strict JSON: gaps are null, never NaN
    assert "template" in figure["layout"]
    if figure["data"][0].get("orientation") != "h":  # time on x: UTC wall-clock strings
        assert "2026-11-23 02:00:00" in text


def test_it_leaves_gaps_where_values_are_missing():
    figure = charts.quantile_lines(STEPS, {"p95": [1.0, None, np.nan, 4.0, 5.0, 6.0]})
    assert figure["data"][0]["y"][:3] == [1.0, None, None]


def test_it_draws_the_slo_as_a_dashed_line():
    figure = charts.quantile_lines(STEPS, {"p95": [1.0] * 6}, slo_ms=250)
    (shape,) = figure["layout"]["shapes"]
    assert (shape["y0"], shape["line"]["dash"]) == (250, "dash")
    assert figure["layout"]["annotations"][0]["text"] == "SLO 250 ms"
