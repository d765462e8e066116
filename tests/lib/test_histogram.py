"""Log-spaced latency buckets: percentiles read back from them, and SQL agreeing with Python."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from opsdash.lib import histogram


def test_it_places_values_in_the_documented_buckets():
    assert histogram.bucket_of(0.0) == 0
    assert histogram.bucket_of(0.999) == 0
    assert histogram.bucket_of(1.0) == 1
    assert histogram.bucket_of(2.0) == 17  # 16 buckets per doubling
    assert histogram.bucket_of(131071.9) == 272
    assert histogram.bucket_of(131072.0) == histogram.OVERFLOW
    assert histogram.bucket_of(3_600_000.0) == histogram.OVERFLOW
    for j in (1, 17, 100, 272):
        assert histogram.upper_bound(j) / histogram.lower_bound(j) == pytest.approx(2 ** (1 / 16))
        assert histogram.bucket_of(histogram.lower_bound(j)) == j
        assert histogram.bucket_of(np.nextafter(histogram.upper_bound(j), 0)) == j


@pytest.mark.parametrize(("mean", "sigma"), [(5.5, 0.6), (6.0, 1.2), (3.0, 0.4), (8.0, 0.9)])
def test_it_reads_percentiles_within_two_percent_of_exact(mean, sigma):
    samples = np.random.default_rng(20250131).lognormal(mean, sigma, 50_000)
    idx, cnt = histogram.sparse(samples)
    qs = [0.5, 0.9, 0.95, 0.99]
    estimated = histogram.quantiles(idx, cnt, qs)
    exact = np.quantile(samples, qs)
    for q, est, ref in zip(qs, estimated, exact, strict=True):
        assert abs(est - ref) / ref < 0.02, (q, est, ref)


def test_it_answers_none_for_an_empty_histogram():
    assert histogram.quantile([], [], 0.5) is None


def test_it_merges_sparse_histograms():
    a = histogram.sparse([1.0, 1.0, 50.0])
    b = histogram.sparse([50.0, 9000.0])
    idx, cnt = histogram.merge(*a, *b)
    assert idx == sorted(idx)
    assert dict(zip(idx, cnt, strict=True)) == {
        histogram.bucket_of(1.0): 2,
        histogram.bucket_of(50.0): 2,
        histogram.bucket_of(9000.0): 1,
    }


def sql_buckets(values: list[float]) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT opsdash_hist_bucket(v) FROM unnest(%s::float8[]) WITH ORDINALITY AS t(v, n) ORDER BY n",
            [values],
        )
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db
def test_it_buckets_edges_the_same_in_sql_and_python():
    values = [0.0, 0.5, float(np.nextafter(1.0, 0))]
    for edge in histogram.EDGES:
        values += [float(edge), float(np.nextafter(edge, 0)), float(np.nextafter(edge, np.inf))]
    values += [200_000.0, 3_600_000.0]
    assert sql_buckets(values) == histogram.bucket_index(values).tolist()


@pytest.mark.django_db
@given(st.lists(st.floats(min_value=0, max_value=3_600_000, allow_nan=False), min_size=1, max_size=200))
def test_it_buckets_any_latency_the_same_in_sql_and_python(values):
    assert sql_buckets(values) == histogram.bucket_index(values).tolist()


@pytest.mark.django_db
def test_it_merges_in_sql_like_in_python():
    a = histogram.sparse([1.0, 1.0, 50.0, 7.5])
    b = histogram.sparse([50.0, 9000.0, 0.2])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT opsdash_hist_merge_idx(%s::smallint[], %s::smallint[]), "
            "opsdash_hist_merge_cnt(%s::smallint[], %s::int[], %s::smallint[], %s::int[])",
            [a[0], b[0], a[0], a[1], b[0], b[1]],
        )
        idx, cnt = cursor.fetchone()
    assert (idx, cnt) == histogram.merge(*a, *b)
