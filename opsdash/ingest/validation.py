"""The ingest contract (DESIGN.md, Interfaces: Event, Eval result), declared once.

``EventIn`` and ``EvalResultIn`` are msgspec Structs whose annotations carry the field
rules: types, required or optional, lengths, ranges, the status and severity choices.
``msgspec.convert`` applies them in C, one record at a time. The rules that msgspec
cannot say cheaply, or that span fields or need the outside world, are explicit
post-checks here, in this order:

- text: every string field (found from the declaration) is text Postgres can store, with
  no NUL character and no lone surrogate;
- ``ts``: an RFC 3339 date-time with an offset that names a real instant, at most 5
  minutes in the future and, for events, not older than the retention;
- ``tenant``: a tenant that exists (looked up once per batch, for well-formed records);
- ``ttft_ms``: at most ``latency_ms``.

Every way in goes through this one path: the JSON and NDJSON API (ingest/api.py,
ingest/evals_api.py), the OTLP mapping (ingest/otlp.py) and ``manage.py ingest`` all
reach ``validate_events`` or ``validate_results``.

A rejected record gets one ``Problem(field, error)``. msgspec says where the record broke
(``$.safety[0].kind``); ``explain`` then words the reason from the same declaration (the
field's type and its ``Meta``), so a message cannot disagree with the rule it reports.
Regular expressions are avoided on purpose: a ``Meta(pattern=...)`` costs about a
microsecond per string, which would double the cost of validating an event.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import re
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Literal, NamedTuple, get_args

import msgspec
from msgspec import Meta
from msgspec import inspect as mi

from opsdash.lib.hashing import keyed_hash

MAX_LATENCY_MS = 3_600_000
MAX_TOKENS = 100_000_000
MAX_COST_USD = 1_000_000
MAX_FUTURE = dt.timedelta(minutes=5)
MAX_SAFETY_FLAGS = 20
MAX_TEXT = 100_000  # input, output
MAX_DETAIL = 2_000  # safety detail
MAX_EVAL_DETAIL = 10_000

TS_EXAMPLE = "2025-01-31T12:00:00Z"

Status = Literal["ok", "error", "timeout", "rate_limited", "blocked"]
Severity = Literal["low", "medium", "high", "critical"]
STATUSES = frozenset(get_args(Status))
SEVERITIES = frozenset(get_args(Severity))


def _text(max_length: int, min_length: int = 1) -> Meta:
    return Meta(min_length=min_length, max_length=max_length)


# Its shape and instant are post-checks (parse_ts).
Timestamp = Annotated[str, Meta(extra={"type": "an RFC 3339 timestamp string"})]
Slug = Annotated[str, Meta(extra={"type": "a tenant slug string"})]
Milliseconds = Annotated[float, Meta(ge=0, le=MAX_LATENCY_MS)]
Tokens = Annotated[int, Meta(ge=0, le=MAX_TOKENS)]
Usd = Annotated[float, Meta(ge=0, le=MAX_COST_USD)]
Fraction = Annotated[float, Meta(ge=0, le=1)]
Text = Annotated[str, _text(MAX_TEXT, min_length=0)]


class SafetyFlagIn(msgspec.Struct, gc=False):
    kind: Annotated[str, _text(50)]
    # A missing severity is reported as a wrong choice ("...; got null"), as it always was.
    severity: Annotated[Severity, Meta(extra={"null_is_a_value": True})]
    detail: Annotated[str, _text(MAX_DETAIL, min_length=0)] | None = None


FlagList = Annotated[
    list[Annotated[SafetyFlagIn, Meta(extra={"type": "an object with kind, severity and detail"})]],
    Meta(max_length=MAX_SAFETY_FLAGS, extra={"items": "flags"}),
]


class EventIn(msgspec.Struct, gc=False):
    """One LLM call as a producer sends it. Unknown fields are ignored."""

    event_id: Annotated[str, _text(128)]
    ts: Timestamp
    tenant: Slug
    route: Annotated[str, _text(200)]
    model: Annotated[str, _text(200)]
    status: Status
    latency_ms: Milliseconds
    input_tokens: Tokens
    output_tokens: Tokens
    ttft_ms: Milliseconds | None = None  # and at most latency_ms (post-check)
    cost_usd: Usd | None = None
    cache_hit: bool | None = None  # null is false
    provider: Annotated[str, _text(100)] | None = None
    prompt_id: Annotated[str, _text(200)] | None = None
    prompt_version: Annotated[str, _text(100)] | None = None
    conversation_id: Annotated[str, _text(200)] | None = None
    trace_id: Annotated[str, _text(128)] | None = None
    safety: FlagList | None = None
    user: Annotated[str, _text(256)] | None = None
    input: Text | None = None  # an empty text is no text
    output: Text | None = None


class EvalResultIn(msgspec.Struct, gc=False):
    """One eval case result from CI. Unknown fields are ignored."""

    run_id: Annotated[str, _text(128)]
    suite: Annotated[str, _text(200)]
    prompt_id: Annotated[str, _text(200)]
    prompt_version: Annotated[str, _text(100)]
    model: Annotated[str, _text(200)]
    case_id: Annotated[str, _text(200)]
    metric: Annotated[str, _text(100)]
    ts: Timestamp
    passed: bool
    model_hash: Annotated[str, _text(128)] | None = None
    language: Annotated[str, _text(35)] | None = None
    score: Fraction | None = None
    threshold: Fraction | None = None
    cost_usd: Usd | None = None
    detail: Annotated[str, _text(MAX_EVAL_DETAIL, min_length=0)] | None = None


class _EventsBody(msgspec.Struct, gc=False):
    events: list[EventIn]


_EVENTS_BODY = msgspec.json.Decoder(_EventsBody)


def decode_events_body(body: bytes) -> list[EventIn] | None:
    """The events of a JSON body ``{"events": [...]}`` decoded straight into ``EventIn``,
    or None when any record breaks a field rule or the body is not such an object.

    The fast way for a clean batch: parsing into dicts and converting those cost three
    times as much as this one pass in C (bench/ingest.py). It is the same declaration, so a
    batch it accepts is one the record-by-record path accepts; on None the caller decodes
    the body as data and ``validate_events`` words the problem of each record.
    """
    try:
        return _EVENTS_BODY.decode(body).events
    except msgspec.DecodeError:  # ValidationError included
        return None


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


# --- the one path -------------------------------------------------------------------------------

_convert = msgspec.convert
_ValidationError = msgspec.ValidationError
_fromiso = dt.datetime.fromisoformat


def _string_fields(struct: type[msgspec.Struct]) -> tuple[str, ...]:
    return tuple(f.name for f in mi.type_info(struct).fields if isinstance(_unwrap(f.type)[0], mi.StrType))  # type: ignore[attr-defined]


def validate_events(
    records: list[object],
    tenants: Callable[[Collection[str]], Mapping[str, TenantInfo]],
    now: dt.datetime,
    oldest: dt.datetime | None,
) -> tuple[list[ValidEvent], list[tuple[int, Problem]]]:
    """The valid events of ``records`` and a problem for each other one, by index.

    ``tenants`` maps slugs to the tenants that exist; it is called once, after the field
    rules, so that only the slugs of well-formed records are looked up.
    """
    decoded: list[tuple[int, EventIn]] = []
    problems: list[tuple[int, Problem]] = []
    convert, strings, join = _convert, _EVENT_STRINGS, "".join
    for index, record in enumerate(records):
        if type(record) is EventIn:  # decoded with its field rules (decode_events_body)
            event = record
        else:
            try:
                event = convert(record, EventIn)
            except _ValidationError as exc:
                problems.append((index, explain(EventIn, record, exc)))
                continue
        # All the strings at once: one scan of one string in the common case.
        text = join(filter(None, strings(event)))
        if "\x00" in text or not text.isascii() or event.safety:
            problem = _bad_strings(event, _EVENT_STRING_NAMES)
            if problem is not None:
                problems.append((index, problem))
                continue
        decoded.append((index, event))
    known = tenants({event.tenant for _, event in decoded}) if decoded else {}
    valid: list[ValidEvent] = []
    late = False
    for index, event in decoded:
        checked = _post_check(index, event, known, now, oldest)
        if type(checked) is ValidEvent:
            valid.append(checked)
        else:
            problems.append((index, checked))  # type: ignore[arg-type]
            late = True
    if late:
        problems.sort(key=lambda p: p[0])
    return valid, problems


def _bad_strings(item: msgspec.Struct, names: tuple[str, ...]) -> Problem | None:
    """The first string field of ``item`` that Postgres cannot store, in declaration order."""
    for name in names:
        value = getattr(item, name)
        if value is not None and (bad := bad_text(value)):
            return Problem(name, bad)
    for position, flag in enumerate(getattr(item, "safety", None) or ()):
        if problem := _bad_strings(flag, _FLAG_STRING_NAMES):
            return Problem(f"safety[{position}].{problem.field}", problem.error)
    return None


def _post_check(
    index: int, e: EventIn, tenants: Mapping[str, TenantInfo], now: dt.datetime, oldest: dt.datetime | None
) -> ValidEvent | Problem:
    ts = parse_ts(e.ts, now, oldest)
    if type(ts) is Problem:
        return ts
    tenant = tenants.get(e.tenant)
    if tenant is None:
        return Problem("tenant", f"unknown tenant {e.tenant[:80]!r}")
    latency, ttft = e.latency_ms, e.ttft_ms
    if ttft is not None and ttft > latency:
        return Problem("ttft_ms", f"must not exceed latency_ms ({_number(latency)}), got {_number(ttft)}")
    cost = e.cost_usd
    user = e.user
    flags = e.safety
    event = ValidEvent(
        index,
        [
            ts,
            tenant.id,
            e.event_id,
            e.route,
            e.model,
            e.provider,
            e.prompt_id,
            e.prompt_version,
            e.status,
            latency,
            ttft,
            e.input_tokens,
            e.output_tokens,
            # repr() keeps the digits the producer sent (0.1 stays 0.1, not its binary cousin).
            Decimal(repr(cost)) if cost is not None else None,
            e.cache_hit is True,
            e.conversation_id,
            e.trace_id,
            keyed_hash(user) if user is not None else None,
            len(flags) if flags else 0,
        ],
        tenant,
    )
    if flags:
        event.safety = [(f.kind, f.severity, f.detail or "") for f in flags]
    if user is not None:
        event.user = user
    if e.input:
        event.input = e.input
    if e.output:
        event.output = e.output
    return event


def validate_results(records: list[object], now: dt.datetime) -> list[tuple[Any, ...] | Problem]:
    """For each record, its row in ``evals.services.FIELDS`` order or its problem."""
    out: list[tuple[Any, ...] | Problem] = []
    for record in records:
        try:
            r = _convert(record, EvalResultIn)
        except _ValidationError as exc:
            out.append(explain(EvalResultIn, record, exc))
            continue
        problem = _bad_strings(r, _RESULT_STRING_NAMES)
        if problem is not None:
            out.append(problem)
            continue
        ts = parse_ts(r.ts, now, None)
        if type(ts) is Problem:
            out.append(ts)
            continue
        cost = r.cost_usd
        out.append(
            (
                r.run_id,
                ts,
                r.suite,
                r.prompt_id,
                r.prompt_version,
                r.model,
                r.model_hash or "",
                r.case_id,
                r.metric,
                r.passed,
                r.score,
                r.threshold,
                r.language or "",
                Decimal(repr(cost)) if cost is not None else None,
                r.detail or "",
            )
        )
    return out


def rfc3339_shape(v: str) -> bool:
    """YYYY-MM-DD, 'T' (or 't' or a space), HH:MM:SS, an optional .fraction, then Z or ±HH:MM.

    Positional checks rather than a regular expression: ingest checks one per event;
    ``fromisoformat`` then checks the digits and their ranges.
    """
    n = len(v)
    return (
        n >= 20
        and v.isascii()
        and v[4] == "-"
        and v[7] == "-"
        and v[10] in "Tt "
        and v[13] == ":"
        and v[16] == ":"
        and (v[-1] in "Zz" or (v[-6] in "+-" and v[-3] == ":"))
        and (n == 20 or v[19] in ".+-")
    )


def parse_ts(value: str, now: dt.datetime, oldest: dt.datetime | None, name: str = "ts") -> dt.datetime | Problem:
    """The instant of an RFC 3339 date-time with an offset, within the time rules."""
    if not rfc3339_shape(value):
        return Problem(name, f"must be an RFC 3339 timestamp with an offset, e.g. {TS_EXAMPLE}")
    try:
        # fromisoformat checks the digits' ranges (no February 30th, no second 61).
        ts = _fromiso(value if value[-1] != "z" else value[:-1] + "Z")
    except ValueError as exc:
        return Problem(name, f"is not a valid timestamp: {exc}")
    if ts - now > MAX_FUTURE:
        return Problem(name, "is more than 5 minutes in the future")
    if oldest is not None and ts < oldest:
        return Problem(name, f"is older than the retention ({(now - oldest).days} days)")
    return ts


# --- wording a rejection from the declaration ---------------------------------------------------

_WHERE = re.compile(r" - at `\$(?P<path>[^`]*)`\Z")
_MISSING = re.compile(r"\AObject missing required field `(?P<name>[^`]+)`")
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_CHOICES = {frozenset(get_args(t)): get_args(t) for t in (Status, Severity)}  # declared order
_ROOT = {EventIn: "event", EvalResultIn: "result"}


def explain(struct: type[msgspec.Struct], record: object, exc: msgspec.ValidationError) -> Problem:
    """The field and reason of the first rule ``record`` breaks, as ``exc`` located it."""
    message = str(exc)
    where = _WHERE.search(message)
    path = where["path"] if where else ""
    missing = _MISSING.match(message)
    if missing:
        path += "." + missing["name"]
    steps = [(name, int(i) if i else None) for name, i in _STEP.findall(path)]
    if not steps:
        return Problem(_ROOT[struct], f"must be an object, got {type_name(record)}")
    value: Any = record
    info: Any = _struct_info(struct)
    for name, position in steps:
        if name:
            value = value.get(name) if type(value) is dict else None
            info = _field_type(info, name)
        else:
            value = value[position] if type(value) is list and position is not None else None  # type: ignore[index]
            info = _unwrap(info)[0].item_type
    field = path.lstrip(".")
    declared, extra = _unwrap(info)
    reason = _reason(declared, extra, value) if value is not None or extra.get("null_is_a_value") else "is required"
    # Never silent: should the wording miss a rule, msgspec's own words still say it.
    return Problem(field, reason or message.split(" - at ")[0])


@cache
def _struct_info(struct: type[msgspec.Struct]) -> mi.StructType:
    info = mi.type_info(struct)
    assert isinstance(info, mi.StructType)
    return info


def _field_type(info: Any, name: str) -> Any:
    struct, _ = _unwrap(info)
    for field in struct.fields:
        if field.name == name:
            return field.type
    raise LookupError(name)


def _unwrap(info: Any) -> tuple[Any, dict[str, Any]]:
    """The declared type without ``| None`` and Meta wrappers, and the Meta extras."""
    extra: dict[str, Any] = {}
    while True:
        if isinstance(info, mi.UnionType):
            info = next(t for t in info.types if not isinstance(t, mi.NoneType))
        elif isinstance(info, mi.Metadata):
            extra = {**(info.extra or {}), **extra}
            info = info.type
        else:
            return info, extra


def _reason(info: Any, extra: dict[str, Any], value: object) -> str | None:
    kind = type(value)
    if isinstance(info, mi.StrType):
        if kind is not str:
            return f"must be {extra.get('type', 'a string')}, got {type_name(value)}"
        size = len(value)  # type: ignore[arg-type]
        if (info.max_length is not None and size > info.max_length) or (
            info.min_length is not None and size < info.min_length
        ):
            if info.min_length:
                return f"must be {info.min_length} to {info.max_length} characters, got {size}"
            return f"must be at most {info.max_length:,} characters, got {size:,}"
        return None
    if isinstance(info, mi.IntType):
        if kind is not int:
            return f"must be an integer, got {type_name(value)}"
        return f"must be between {info.ge:,} and {info.le:,}, got {value}"
    if isinstance(info, mi.FloatType):
        if kind is not float and kind is not int:
            return f"must be a number, got {type_name(value)}"
        if kind is float and not math.isfinite(value):  # type: ignore[arg-type]
            return "must be a finite number (NaN and Infinity are not allowed)"
        return f"must be between {info.ge:g} and {info.le:g}, got {value}"
    if isinstance(info, mi.BoolType):
        return f"must be true or false, got {type_name(value)}"
    if isinstance(info, mi.LiteralType):
        choices = _CHOICES.get(frozenset(info.values), info.values)
        shown = repr(value[:40]) if kind is str else type_name(value)  # type: ignore[index]
        return f"must be one of {', '.join(map(str, choices))}; got {shown}"
    if isinstance(info, mi.ListType):
        if kind is not list:
            return f"must be a list, got {type_name(value)}"
        return f"must have at most {info.max_length} {extra.get('items', 'items')}, got {len(value)}"  # type: ignore[arg-type]
    if isinstance(info, mi.StructType):
        return f"must be {extra.get('type', 'an object')}, got {type_name(value)}"
    return None


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


def _number(value: float) -> str:
    """A number as the producer wrote it: 100, not 100.0, for a whole number."""
    return str(int(value)) if value.is_integer() else repr(value)


_EVENT_STRING_NAMES = _string_fields(EventIn)
_FLAG_STRING_NAMES = _string_fields(SafetyFlagIn)
_RESULT_STRING_NAMES = _string_fields(EvalResultIn)
_EVENT_STRINGS = operator.attrgetter(*_EVENT_STRING_NAMES)
