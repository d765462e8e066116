"""Field rules of the Event contract (DESIGN.md, Interfaces), checked per record.

Written for throughput: one pass per record, type checks by identity (``type(v) is
str``), precompiled patterns, and errors returned as values rather than raised, so the
happy path of a 1,000-event batch costs a few milliseconds. Each record gets at most one
rejection, naming the first field that is wrong.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, NamedTuple

from opsdash.lib.hashing import keyed_hash

STATUSES = frozenset({"ok", "error", "timeout", "rate_limited", "blocked"})
SEVERITIES = frozenset({"low", "medium", "high", "critical"})

MAX_LATENCY_MS = 3_600_000
MAX_TOKENS = 100_000_000
MAX_COST_USD = 1_000_000
MAX_FUTURE = dt.timedelta(minutes=5)
MAX_SAFETY_FLAGS = 20
MAX_TEXT = 100_000  # input, output
MAX_DETAIL = 2_000  # safety detail

# (field, max length) of the optional strings; required ones are checked inline.
OPTIONAL_STRINGS = (
    ("provider", 100),
    ("prompt_id", 200),
    ("prompt_version", 100),
    ("conversation_id", 200),
    ("trace_id", 128),
)

_fromiso = dt.datetime.fromisoformat


class TenantInfo(NamedTuple):
    id: int


class Problem(NamedTuple):
    field: str
    error: str


class ValidEvent:
    """A record that passed every rule; ``row`` is in ``COPY_COLUMNS`` order (telemetry.services)."""

    __slots__ = ("index", "input", "output", "row", "safety", "tenant", "user")

    def __init__(self, index: int, row: list[Any], tenant: TenantInfo) -> None:
        self.index = index
        self.row = row
        self.tenant = tenant
        self.safety: list[tuple[str, str, str]] = []
        self.input: str | None = None
        self.output: str | None = None
        self.user: str | None = None


def bad_text(value: str) -> str | None:
    """Why a string cannot be stored as Postgres text, if it cannot."""
    if "\x00" in value:
        return "must not contain NUL characters"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid UTF-8 (lone surrogate)"
    return None


def check_string(value: object, name: str, max_len: int) -> Problem | None:
    if type(value) is not str:
        return Problem(name, f"must be a string, got {type_name(value)}")
    if not 0 < len(value) <= max_len:
        return Problem(name, f"must be 1 to {max_len} characters, got {len(value)}")
    bad = bad_text(value)
    return Problem(name, bad) if bad else None


def check_number(value: object, name: str, low: float, high: float) -> Problem | None:
    kind = type(value)
    if kind is not float and kind is not int:
        return Problem(name, f"must be a number, got {type_name(value)}")
    if not low <= value <= high:  # type: ignore[operator]
        if kind is float and not math.isfinite(value):  # type: ignore[arg-type]
            return Problem(name, "must be a finite number (NaN and Infinity are not allowed)")
        return Problem(name, f"must be between {low:g} and {high:g}, got {value}")
    return None


def check_integer(value: object, name: str, low: int, high: int) -> Problem | None:
    if type(value) is not int:
        return Problem(name, f"must be an integer, got {type_name(value)}")
    if not low <= value <= high:
        return Problem(name, f"must be between {low:,} and {high:,}, got {value}")
    return None


def type_name(value: object) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _rfc3339_shape(v: str) -> bool:
    """YYYY-MM-DD, 'T' (or space), HH:MM:SS, an optional .fraction, then Z or +HH:MM.

    Positional checks rather than a regular expression: ingest parses one per event.
    """
    n = len(v)
    return (
        n >= 20
        and v[4] == "-"
        and v[7] == "-"
        and v[10] in "Tt "
        and v[13] == ":"
        and v[16] == ":"
        and (v[-1] in "Zz" or (v[-6] in "+-" and v[-3] == ":"))
        and (n == 20 or v[19] in ".+-")
    )


def parse_ts(value: object, now: dt.datetime, oldest: dt.datetime | None, name: str = "ts") -> dt.datetime | Problem:
    if type(value) is not str:
        return Problem(name, f"must be an RFC 3339 timestamp string, got {type_name(value)}")
    if not _rfc3339_shape(value):
        return Problem(name, "must be an RFC 3339 timestamp with an offset, e.g. 2025-01-31T12:00:00Z")
    try:
        # fromisoformat checks the digits and ranges; the shape check made it strict.
        ts = _fromiso(value if value[-1] != "z" else value[:-1] + "Z")
    except ValueError as exc:
        return Problem(name, f"is not a valid timestamp: {exc}")
    if ts - now > MAX_FUTURE:
        return Problem(name, "is more than 5 minutes in the future")
    if oldest is not None and ts < oldest:
        return Problem(name, f"is older than the retention ({(now - oldest).days} days)")
    return ts


def validate_events(
    records: list[object],
    tenants: Mapping[str, TenantInfo],
    now: dt.datetime,
    oldest: dt.datetime,
) -> tuple[list[ValidEvent], list[tuple[int, Problem]]]:
    valid: list[ValidEvent] = []
    problems: list[tuple[int, Problem]] = []
    fast = _fast_path
    for index, record in enumerate(records):
        result = fast(index, record, tenants, now, oldest) or _validate(index, record, tenants, now, oldest)
        if type(result) is ValidEvent:
            valid.append(result)
        else:
            problems.append((index, result))  # type: ignore[arg-type]
    return valid, problems


_RARE = ("safety", "user", "input", "output")


def _fast_path(
    index: int,
    rec: object,
    tenants: Mapping[str, TenantInfo],
    now: dt.datetime,
    oldest: dt.datetime,
) -> ValidEvent | None:
    """The common event (ASCII strings, no text, flags or user) in one expression.

    Answers None whenever it is not sure, and ``_validate`` decides, with the message;
    it never accepts what ``_validate`` would refuse.
    """
    if type(rec) is not dict:
        return None
    get = rec.get
    event_id, route, model = get("event_id"), get("route"), get("model")
    slug, status, ts = get("tenant"), get("status"), get("ts")
    latency, ttft = get("latency_ms"), get("ttft_ms")
    tokens_in, tokens_out = get("input_tokens"), get("output_tokens")
    if not (
        type(event_id) is str
        and 0 < len(event_id) <= 128
        and event_id.isascii()
        and "\x00" not in event_id
        and type(route) is str
        and 0 < len(route) <= 200
        and route.isascii()
        and "\x00" not in route
        and type(model) is str
        and 0 < len(model) <= 200
        and model.isascii()
        and "\x00" not in model
        and type(slug) is str
        and type(status) is str
        and status in STATUSES
        and (type(latency) is float or type(latency) is int)
        and 0 <= latency <= MAX_LATENCY_MS
        and (ttft is None or ((type(ttft) is float or type(ttft) is int) and 0 <= ttft <= latency))
        and type(tokens_in) is int
        and 0 <= tokens_in <= MAX_TOKENS
        and type(tokens_out) is int
        and 0 <= tokens_out <= MAX_TOKENS
        and type(ts) is str
        and _rfc3339_shape(ts)
    ):
        return None
    tenant = tenants.get(slug)
    if tenant is None:
        return None
    for name in _RARE:
        if name in rec:
            return None
    optional = []
    for name, max_len in OPTIONAL_STRINGS:
        value = get(name)
        if value is not None and not (
            type(value) is str and 0 < len(value) <= max_len and value.isascii() and "\x00" not in value
        ):
            return None
        optional.append(value)
    cost = get("cost_usd")
    if cost is not None:
        if not ((type(cost) is float or type(cost) is int) and 0 <= cost <= MAX_COST_USD):
            return None
        cost = Decimal(repr(cost)) if type(cost) is float else Decimal(cost)
    cache_hit = get("cache_hit", False)
    if cache_hit is None:
        cache_hit = False
    elif type(cache_hit) is not bool:
        return None
    try:
        moment = _fromiso(ts if ts[-1] != "z" else ts[:-1] + "Z")
    except ValueError:
        return None
    if moment - now > MAX_FUTURE or moment < oldest:
        return None
    return ValidEvent(
        index,
        [
            moment,
            tenant.id,
            event_id,
            route,
            model,
            optional[0],
            optional[1],
            optional[2],
            status,
            float(latency),
            float(ttft) if ttft is not None else None,
            tokens_in,
            tokens_out,
            cost,
            cache_hit,
            optional[3],
            optional[4],
            None,
            0,
        ],
        tenant,
    )


def _validate(
    index: int,
    rec: object,
    tenants: Mapping[str, TenantInfo],
    now: dt.datetime,
    oldest: dt.datetime,
) -> ValidEvent | Problem:
    if type(rec) is not dict:
        return Problem("event", f"must be an object, got {type_name(rec)}")
    get = rec.get

    event_id = get("event_id")
    if event_id is None:
        return Problem("event_id", "is required")
    if problem := check_string(event_id, "event_id", 128):
        return problem

    ts = get("ts")
    if ts is None:
        return Problem("ts", "is required")
    ts = parse_ts(ts, now, oldest)
    if type(ts) is Problem:
        return ts

    slug = get("tenant")
    if slug is None:
        return Problem("tenant", "is required")
    tenant = tenants.get(slug) if type(slug) is str else None
    if tenant is None:
        if type(slug) is not str:
            return Problem("tenant", f"must be a tenant slug string, got {type_name(slug)}")
        return Problem("tenant", f"unknown tenant {slug[:80]!r}")

    route = get("route")
    if route is None:
        return Problem("route", "is required")
    if problem := check_string(route, "route", 200):
        return problem
    model = get("model")
    if model is None:
        return Problem("model", "is required")
    if problem := check_string(model, "model", 200):
        return problem

    status = get("status")
    if status is None:
        return Problem("status", "is required")
    if type(status) is not str or status not in STATUSES:
        shown = repr(status[:40]) if type(status) is str else type_name(status)
        return Problem("status", f"must be one of ok, error, timeout, rate_limited, blocked; got {shown}")

    latency = get("latency_ms")
    if latency is None:
        return Problem("latency_ms", "is required")
    if problem := check_number(latency, "latency_ms", 0, MAX_LATENCY_MS):
        return problem
    ttft = get("ttft_ms")
    if ttft is not None:
        if problem := check_number(ttft, "ttft_ms", 0, MAX_LATENCY_MS):
            return problem
        if ttft > latency:
            return Problem("ttft_ms", f"must not exceed latency_ms ({latency}), got {ttft}")
        ttft = float(ttft)

    input_tokens = get("input_tokens")
    if input_tokens is None:
        return Problem("input_tokens", "is required")
    if problem := check_integer(input_tokens, "input_tokens", 0, MAX_TOKENS):
        return problem
    output_tokens = get("output_tokens")
    if output_tokens is None:
        return Problem("output_tokens", "is required")
    if problem := check_integer(output_tokens, "output_tokens", 0, MAX_TOKENS):
        return problem

    cost = get("cost_usd")
    if cost is not None:
        if problem := check_number(cost, "cost_usd", 0, MAX_COST_USD):
            return problem
        # repr() keeps the digits the producer sent (0.1 stays 0.1, not its binary cousin).
        cost = Decimal(repr(cost)) if type(cost) is float else Decimal(cost)

    cache_hit = get("cache_hit", False)
    if cache_hit is None:
        cache_hit = False
    elif type(cache_hit) is not bool:
        return Problem("cache_hit", f"must be true or false, got {type_name(cache_hit)}")

    optional: list[str | None] = []
    for name, max_len in OPTIONAL_STRINGS:
        value = get(name)
        if value is not None and (problem := check_string(value, name, max_len)):
            return problem
        optional.append(value)

    user = get("user")
    if user is not None and (problem := check_string(user, "user", 256)):
        return problem

    safety = get("safety")
    flags: list[tuple[str, str, str]] = []
    if safety is not None:
        if type(safety) is not list:
            return Problem("safety", f"must be a list, got {type_name(safety)}")
        if len(safety) > MAX_SAFETY_FLAGS:
            return Problem("safety", f"must have at most {MAX_SAFETY_FLAGS} flags, got {len(safety)}")
        for position, flag in enumerate(safety):
            checked = _check_flag(flag, f"safety[{position}]")
            if type(checked) is Problem:
                return checked
            flags.append(checked)  # type: ignore[arg-type]

    texts: list[str | None] = []
    for name in ("input", "output"):
        value = get(name)
        if value is not None:
            if type(value) is not str:
                return Problem(name, f"must be a string, got {type_name(value)}")
            if len(value) > MAX_TEXT:
                return Problem(name, f"must be at most {MAX_TEXT:,} characters, got {len(value):,}")
            if bad := bad_text(value):
                return Problem(name, bad)
            if not value:
                value = None
        texts.append(value)

    provider, prompt_id, prompt_version, conversation_id, trace_id = optional
    event = ValidEvent(
        index,
        [
            ts,
            tenant.id,
            event_id,
            route,
            model,
            provider,
            prompt_id,
            prompt_version,
            status,
            float(latency),
            ttft,
            input_tokens,
            output_tokens,
            cost,
            cache_hit,
            conversation_id,
            trace_id,
            keyed_hash(user) if user is not None else None,
            len(flags),
        ],
        tenant,
    )
    if flags:
        event.safety = flags
    event.input, event.output = texts
    event.user = user
    return event


def _check_flag(flag: object, where: str) -> tuple[str, str, str] | Problem:
    if type(flag) is not dict:
        return Problem(where, f"must be an object with kind, severity and detail, got {type_name(flag)}")
    kind = flag.get("kind")
    if kind is None:
        return Problem(f"{where}.kind", "is required")
    if problem := check_string(kind, f"{where}.kind", 50):
        return problem
    severity = flag.get("severity")
    if type(severity) is not str or severity not in SEVERITIES:
        shown = repr(severity[:40]) if type(severity) is str else type_name(severity)
        return Problem(f"{where}.severity", f"must be one of low, medium, high, critical; got {shown}")
    detail = flag.get("detail")
    if detail is None:
        detail = ""
    elif type(detail) is not str:
        return Problem(f"{where}.detail", f"must be a string, got {type_name(detail)}")
    elif len(detail) > MAX_DETAIL:
        return Problem(f"{where}.detail", f"must be at most {MAX_DETAIL:,} characters, got {len(detail):,}")
    elif bad := bad_text(detail):
        return Problem(f"{where}.detail", bad)
    return kind, severity, detail
