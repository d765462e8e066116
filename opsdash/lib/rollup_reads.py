"""How a range of time is read from rollup tables of several widths (telemetry's minute,
hour and day rollups; safety's hourly and daily flag counts): which rows of which table,
added or subtracted, and the fetch of the rows.

A range is read as whole rows of the coarsest table that fits plus its ragged ends from
finer tables. A ragged end may instead be read as its whole coarser row *less* the rest of
that row's time (pieces carry a sign), when that is fewer rows:

- always for the present bucket: "today" is one day row less the hours after the range's
  end, which hold nothing but what a skewed clock stamped ahead;
- for other buckets when the finer rows of all of that bucket are still kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection

Piece = tuple[str, dt.datetime, dt.datetime, int]  # table, from, to, sign


def floor(value: dt.datetime, width: dt.timedelta) -> dt.datetime:
    """The start of the ``width``-long bucket (counted from the epoch, in UTC) that holds ``value``."""
    seconds = width.total_seconds()
    return dt.datetime.fromtimestamp((value.timestamp() // seconds) * seconds, dt.UTC)


@dataclass(frozen=True)
class Rung:
    """The next table up from a table of rollup rows."""

    table: str  # the coarser table
    width: dt.timedelta  # how much time one of its rows covers
    fine: dt.timedelta  # how much time one row of the finer table covers
    # Its rows from here on may be read less their finer rows (before it, the finer rows
    # are no longer kept); None: all of them may.
    cut_from: dt.datetime | None = None

    def may_cut(self, bucket: dt.datetime) -> bool:
        return self.cut_from is None or bucket >= self.cut_from


def decompose(
    table: str,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    up: Callable[[str], Rung | None],
    origin: dt.datetime | None = None,
    step: dt.timedelta | None = None,
) -> list[Piece]:
    """The signed reads of ``table``'s rows from ``start`` to ``end`` and of the coarser
    tables above it (``up``), fewest rows first. Per-step reads (``origin``, ``step``) use a
    coarser table only when every step is made of its rows, so no row straddles two steps.
    The numbers are the same either way."""
    rung = up(table)
    if rung is None:
        return [(table, start, end, 1)]
    width = rung.width
    aligned = step is None or (
        step % width == dt.timedelta(0) and origin is not None and floor(origin, width) == origin
    )
    if not aligned:
        return [(table, start, end, 1)]

    def rows(span: dt.timedelta) -> float:
        return span / rung.fine

    first, last = floor(start + width - dt.timedelta(microseconds=1), width), floor(end, width)
    lead, opening = first, first - width  # the coarser bucket the start falls in
    if start < first and rung.may_cut(opening) and rows(start - opening) + 1 < rows(min(first, end) - start):
        lead = opening
    trail = last
    if last < end and (
        last + width > now or (rung.may_cut(last) and rows(last + width - end) + 1 < rows(end - max(last, start)))
    ):
        trail = last + width
    if trail <= lead:
        return [(table, start, end, 1)]
    pieces: list[Piece] = []
    if start < lead:
        pieces.append((table, start, lead, 1))
    elif lead < start:
        pieces.append((table, lead, start, -1))
    pieces += decompose(rung.table, lead, trail, now, up, origin, step)
    if end < trail:
        pieces.append((table, end, trail, -1))
    elif trail < end:
        pieces.append((table, trail, end, 1))
    return pieces


def fetch(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
