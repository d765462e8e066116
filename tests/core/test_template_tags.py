"""The template tags that render long lists in one call: escaped, and the same rows as a
template loop would give."""

from __future__ import annotations

import datetime as dt
import json
import re
from types import SimpleNamespace

import numpy as np

from opsdash.core.templatetags.opsdash_tags import chart_json, quantile_table_rows, tenant_options


def test_it_escapes_tenant_options_and_marks_the_chosen_one():
    tenants = [SimpleNamespace(slug="acme"), SimpleNamespace(slug='x"><script>alert(1)</script>')]
    out = str(tenant_options(tenants, "acme"))
    assert out.startswith('<option value="acme" selected>acme</option>')
    assert "<script>" not in out
    assert "&lt;script&gt;" in out
    assert "&quot;" in out
    assert out.count("<option") == 2
    assert "selected" not in out.split("</option>")[1]


def test_it_renders_one_table_row_per_step_with_dashes_for_empty_steps():
    t = dt.datetime(2026, 11, 20, 14, 0, tzinfo=dt.UTC)
    rows = [
        {"t": t, "p50": 840.4, "p95": 2300.0, "p99": 12000.0, "ttft_p95": None},
        {"t": t + dt.timedelta(hours=1), "p50": None, "p95": None, "p99": None, "ttft_p95": None},
    ]
    out = str(quantile_table_rows(rows))
    assert out.count("<tr>") == 2
    # Milliseconds throughout, as on the charts and tiles.
    assert '<tr><td>2026-11-20 14:00</td><td class="num">840 ms</td><td class="num">2,300 ms</td>' in out
    assert '<td class="num">12,000 ms</td><td class="num">—</td></tr>' in out


def test_it_writes_a_chart_that_no_label_can_break_out_of():
    figure = {"data": [{"name": "</script><script>alert(1)</script> & co", "y": [1.5, None, np.float64(2.0)]}]}
    out = str(chart_json(figure, 'chart"x'))
    assert out.startswith('<script id="chart&quot;x" type="application/json">')
    body = re.fullmatch(r'<script id="[^"]*" type="application/json">(.*)</script>', out, re.S).group(1)
    assert not {"<", ">", "&"} & set(body)
    assert json.loads(body) == {"data": [{"name": "</script><script>alert(1)</script> & co", "y": [1.5, None, 2.0]}]}
