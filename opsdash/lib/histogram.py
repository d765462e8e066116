"""Latency histograms in fixed log-spaced buckets, shared by Python and SQL.

Bucket 0 holds [0, 1) ms; bucket j (1 <= j <= 272) holds [2^((j-1)/16), 2^(j/16)) ms,
16 buckets per doubling up to 2^17 ms (~131 s); bucket 273 holds everything above.
A bucket is 4.4 % wide, so a percentile read back with log-linear interpolation inside
its bucket stays within about 1 % of the exact value on real latency distributions.

The bucket of a value is defined by comparison against ``EDGES`` (the exact doubles
``2.0 ** (k / 16)``), never by a floating-point logarithm alone, so the SQL function
``opsdash_hist_bucket`` (which carries the same doubles as a literal) puts every value,
edges included, in the same bucket as :func:`bucket_index`.

Histograms are stored sparse: sorted bucket indices and their counts, non-empty only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

PER_DOUBLING = 16
MAX_EXPONENT = 17
LOG_BUCKETS = PER_DOUBLING * MAX_EXPONENT  # 272
OVERFLOW = LOG_BUCKETS + 1  # 273
BUCKETS = OVERFLOW + 1  # 274
EDGES: np.ndarray = np.array([2.0 ** (k / PER_DOUBLING) for k in range(LOG_BUCKETS + 1)], dtype=np.float64)
MAX_EDGE = float(EDGES[-1])  # 131072.0


def bucket_index(values: float | Sequence[float] | np.ndarray) -> np.ndarray:
    """Bucket of each value (vectorised); values must be finite and >= 0."""
    arr = np.asarray(values, dtype=np.float64)
    return np.searchsorted(EDGES, arr, side="right").astype(np.int16)


def bucket_of(value: float) -> int:
    return int(np.searchsorted(EDGES, value, side="right"))


def lower_bound(index: int) -> float:
    return 0.0 if index <= 0 else float(EDGES[min(index, OVERFLOW) - 1])


def upper_bound(index: int) -> float:
    return math.inf if index >= OVERFLOW else float(EDGES[index])


def sparse(values: Iterable[float]) -> tuple[list[int], list[int]]:
    """(indices, counts) of the non-empty buckets of ``values``, sorted by index."""
    arr = np.fromiter(values, dtype=np.float64)
    if arr.size == 0:
        return [], []
    idx, cnt = np.unique(bucket_index(arr), return_counts=True)
    return idx.tolist(), cnt.tolist()


def dense(indices: Sequence[int], counts: Sequence[int]) -> np.ndarray:
    out = np.zeros(BUCKETS, dtype=np.int64)
    if len(indices):
        np.add.at(out, np.asarray(indices, dtype=np.int64), np.asarray(counts, dtype=np.int64))
    return out


def merge(
    a_idx: Sequence[int], a_cnt: Sequence[int], b_idx: Sequence[int], b_cnt: Sequence[int]
) -> tuple[list[int], list[int]]:
    merged = dense(a_idx, a_cnt) + dense(b_idx, b_cnt)
    nz = np.nonzero(merged)[0]
    return nz.tolist(), merged[nz].tolist()


def quantiles_dense(counts: np.ndarray, qs: Sequence[float]) -> list[float | None]:
    """Quantiles (0 <= q <= 1) from dense bucket counts; None when the histogram is empty.

    Inside a log bucket the value is interpolated geometrically (the bucket's own scale),
    inside bucket 0 linearly; a quantile in the overflow bucket reads as its lower bound.
    """
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return [None for _ in qs]
    cumulative = np.cumsum(counts)
    out: list[float | None] = []
    for q in qs:
        rank = min(max(q, 0.0), 1.0) * total
        j = int(np.searchsorted(cumulative, rank, side="left"))
        j = min(j, BUCKETS - 1)
        while counts[j] == 0 and j < BUCKETS - 1:  # rank 0 lands before the first non-empty bucket
            j += 1
        before = int(cumulative[j] - counts[j])
        frac = (rank - before) / counts[j] if counts[j] else 0.0
        frac = min(max(frac, 0.0), 1.0)
        if j == 0:
            out.append(frac * float(EDGES[0]))
        elif j >= OVERFLOW:
            out.append(MAX_EDGE)
        else:
            lo, hi = float(EDGES[j - 1]), float(EDGES[j])
            out.append(lo * (hi / lo) ** frac)
    return out


def quantiles_matrix(counts: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """:func:`quantiles_dense` for many histograms at once: ``counts`` has one dense
    histogram per row; the result one column per quantile, NaN where a row is empty."""
    counts = np.asarray(counts, dtype=np.int64).reshape(-1, BUCKETS)
    out = np.full((len(counts), len(qs)), np.nan)
    if not len(counts):
        return out
    cumulative = np.cumsum(counts, axis=1)
    total = cumulative[:, -1]
    rows = np.arange(len(counts))
    for n, q in enumerate(qs):
        rank = min(max(q, 0.0), 1.0) * total
        # The first non-empty bucket whose cumulative count reaches the rank.
        j = np.argmax((cumulative >= rank[:, None]) & (counts > 0), axis=1)
        c = counts[rows, j]
        before = cumulative[rows, j] - c
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.clip(np.where(c > 0, (rank - before) / np.maximum(c, 1), 0.0), 0.0, 1.0)
        lo = EDGES[np.clip(j - 1, 0, LOG_BUCKETS)].astype(float)
        hi = EDGES[np.clip(j, 0, LOG_BUCKETS)].astype(float)
        value = np.where(j == 0, frac * float(EDGES[0]), np.where(j >= OVERFLOW, MAX_EDGE, lo * (hi / lo) ** frac))
        out[:, n] = np.where(total > 0, value, np.nan)
    return out


def quantiles(indices: Sequence[int], counts: Sequence[int], qs: Sequence[float]) -> list[float | None]:
    return quantiles_dense(dense(indices, counts), qs)


def quantile(indices: Sequence[int], counts: Sequence[int], q: float) -> float | None:
    return quantiles(indices, counts, [q])[0]


def sql_edges_literal() -> str:
    """The edges as a Postgres float8[] literal; repr() round-trips each double exactly."""
    return "{" + ",".join(repr(float(e)) for e in EDGES) + "}"
