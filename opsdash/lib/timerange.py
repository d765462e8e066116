"""Time ranges from the query string, and the rollup grain each one reads.

Short ranges read minute rollups (binned to a few hundred points), long ones hour
rollups, so a chart never reads more than ~1,000 buckets of either.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

Grain = Literal["minute", "hour"]

PRESETS: dict[str, dt.timedelta] = {
    "1h": dt.timedelta(hours=1),
    "6h": dt.timedelta(hours=6),
    "24h": dt.timedelta(hours=24),
    "7d": dt.timedelta(days=7),
    "30d": dt.timedelta(days=30),
}
DEFAULT_PRESET = "24h"
MAX_SPAN = dt.timedelta(days=400)
# Up to this span, minute rollups; beyond, hour rollups.
MINUTE_GRAIN_MAX_SPAN = dt.timedelta(hours=24)


class RangeError(ValueError):
    """A range in the query string that cannot be used; the message says why."""


@dataclass(frozen=True)
class TimeRange:
    start: dt.datetime  # inclusive, UTC
    end: dt.datetime  # exclusive, UTC
    preset: str  # one of PRESETS, or "custom"

    @property
    def span(self) -> dt.timedelta:
        return self.end - self.start

    @property
    def grain(self) -> Grain:
        return "minute" if self.span <= MINUTE_GRAIN_MAX_SPAN else "hour"

    @property
    def step(self) -> dt.timedelta:
        """Width of one chart bucket: the grain, widened so a chart has at most ~300 points."""
        if self.grain == "minute":
            for minutes in (1, 5, 15, 60):
                if self.span / dt.timedelta(minutes=minutes) <= 300:
                    return dt.timedelta(minutes=minutes)
            return dt.timedelta(hours=1)
        for hours in (1, 3, 6, 24):
            if self.span / dt.timedelta(hours=hours) <= 300:
                return dt.timedelta(hours=hours)
        return dt.timedelta(days=1)

    def previous(self) -> TimeRange:
        """The period of equal length just before, for 'change vs previous period'."""
        return TimeRange(self.start - self.span, self.start, self.preset)

    def query(self) -> dict[str, str]:
        if self.preset != "custom":
            return {"range": self.preset}
        return {"range": "custom", "from": _fmt(self.start), "to": _fmt(self.end)}


def _fmt(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M")


FIRST_YEAR, LAST_YEAR = 1970, 9000


def _parse_point(name: str, raw: str) -> dt.datetime:
    text = raw.strip()
    try:
        if len(text) == 10:
            value = dt.datetime.fromisoformat(text + "T00:00")
        else:
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RangeError(f"'{name}' must be a date or time like 2026-11-20 or 2026-11-20T14:00 (UTC)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    # Years far enough from the ends of the calendar that a range, the one before it and
    # its aligned buckets can still be computed (year 1 or 9999 would overflow).
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise RangeError(f"'{name}' must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return value.astimezone(dt.UTC)


def _align(value: dt.datetime, grain: Grain, up: bool) -> dt.datetime:
    floor = value.replace(second=0, microsecond=0)
    if grain == "hour":
        floor = floor.replace(minute=0)
    if up and floor < value:
        floor += dt.timedelta(minutes=1) if grain == "minute" else dt.timedelta(hours=1)
    return floor


def parse_range(params: dict[str, str], now: dt.datetime) -> TimeRange:
    """Read ``range`` (a preset or ``custom`` with ``from`` and ``to``) from query parameters."""
    preset = (params.get("range") or DEFAULT_PRESET).strip()
    if preset in PRESETS:
        span = PRESETS[preset]
        grain: Grain = "minute" if span <= MINUTE_GRAIN_MAX_SPAN else "hour"
        # Ends at the next grain boundary so the current (partial) bucket shows.
        end = _align(now, grain, up=True)
        if end == now.replace(second=0, microsecond=0) and grain == "minute":
            end += dt.timedelta(minutes=1)
        return TimeRange(end - span, end, preset)
    if preset != "custom":
        choices = ", ".join([*PRESETS, "custom"])
        raise RangeError(f"'range' must be one of {choices}; got {preset!r}")
    if not params.get("from") or not params.get("to"):
        raise RangeError("a custom range needs both 'from' and 'to'")
    start = _parse_point("from", params["from"])
    end = _parse_point("to", params["to"])
    if end <= start:
        raise RangeError("'to' must be after 'from'")
    if end - start > MAX_SPAN:
        raise RangeError(f"a range may span at most {MAX_SPAN.days} days")
    grain = "minute" if end - start <= MINUTE_GRAIN_MAX_SPAN else "hour"
    return TimeRange(_align(start, grain, up=False), _align(end, grain, up=True), "custom")
