"""Random valid and broken records against the one validation path.

The rules below are written out from docs/ingest.md (and DESIGN.md's Event table), not
imported from opsdash: the records are made from what the contract says, and the verdicts
of ``validate_events`` / ``validate_results`` (accepted or rejected, and the field named)
must agree with it. A broken record has one to three fields broken on purpose; its
rejection must name one of them.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from opsdash.ingest.validation import TenantInfo, decode_events_body, validate_events, validate_results

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
RETENTION_DAYS = 30
OLDEST = NOW - dt.timedelta(days=RETENTION_DAYS)
TENANTS = {"acme": TenantInfo(1), "globex": TenantInfo(2)}

# --- the documented rules -----------------------------------------------------------------------

STATUSES = ["ok", "error", "timeout", "rate_limited", "blocked"]
SEVERITIES = ["low", "medium", "high", "critical"]
# name: (required, shortest, longest)
EVENT_STRINGS = {
    "event_id": (True, 1, 128),
    "route": (True, 1, 200),
    "model": (True, 1, 200),
    "provider": (False, 1, 100),
    "prompt_id": (False, 1, 200),
    "prompt_version": (False, 1, 100),
    "conversation_id": (False, 1, 200),
    "trace_id": (False, 1, 128),
    "user": (False, 1, 256),
    "input": (False, 0, 100_000),
    "output": (False, 0, 100_000),
}
# name: (required, lowest, highest)
EVENT_NUMBERS = {
    "latency_ms": (True, 0, 3_600_000),
    "ttft_ms": (False, 0, 3_600_000),
    "cost_usd": (False, 0, 1_000_000),
}
EVENT_INTEGERS = {"input_tokens": (True, 0, 100_000_000), "output_tokens": (True, 0, 100_000_000)}
MAX_FLAGS = 20
FLAG_KIND = (1, 50)
FLAG_DETAIL = (0, 2_000)

RESULT_STRINGS = {
    "run_id": (True, 1, 128),
    "suite": (True, 1, 200),
    "prompt_id": (True, 1, 200),
    "prompt_version": (True, 1, 100),
    "model": (True, 1, 200),
    "case_id": (True, 1, 200),
    "metric": (True, 1, 100),
    "model_hash": (False, 1, 128),
    "language": (False, 1, 35),
    "detail": (False, 0, 10_000),
}
RESULT_NUMBERS = {"score": (False, 0, 1), "threshold": (False, 0, 1), "cost_usd": (False, 0, 1_000_000)}

# --- valid values -------------------------------------------------------------------------------

storable = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")


def text(shortest: int, longest: int) -> st.SearchStrategy[str]:
    edge = [st.just("x" * longest)] + ([st.just("y" * shortest)] if shortest else [st.just("")])
    return st.one_of(st.text(storable, min_size=shortest, max_size=min(longest, 30)), *edge)


def number(lowest: float, highest: float) -> st.SearchStrategy[float | int]:
    return st.one_of(
        st.floats(min_value=lowest, max_value=highest),
        st.integers(min_value=int(lowest), max_value=int(highest)),
        st.sampled_from([lowest, highest]),
    )


@st.composite
def timestamps(draw: st.DrawFn, earliest: dt.datetime, latest: dt.datetime) -> str:
    """An RFC 3339 date-time with an offset, in any of the forms the contract allows."""
    seconds = int((latest - earliest).total_seconds())
    moment = earliest + dt.timedelta(seconds=draw(st.integers(1, seconds - 1)))
    minutes = draw(st.one_of(st.just(0), st.integers(-14 * 60, 14 * 60)))
    local = moment.astimezone(dt.timezone(dt.timedelta(minutes=minutes))).replace(tzinfo=None)
    separator = draw(st.sampled_from("Tt "))
    fraction = draw(st.one_of(st.just(""), st.integers(1, 9).map(lambda n: "." + "0" * (n - 1) + "5")))
    if minutes == 0 and draw(st.booleans()):
        offset = draw(st.sampled_from("Zz"))
    else:
        sign = "-" if minutes < 0 else "+"
        offset = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return local.strftime(f"%Y-%m-%d{separator}%H:%M:%S") + fraction + offset


valid_event_ts = timestamps(OLDEST + dt.timedelta(minutes=1), NOW + dt.timedelta(minutes=4))
valid_result_ts = timestamps(NOW - dt.timedelta(days=3650), NOW + dt.timedelta(minutes=4))

flags = st.fixed_dictionaries(
    {"kind": text(*FLAG_KIND), "severity": st.sampled_from(SEVERITIES)},
    optional={"detail": st.one_of(st.none(), text(*FLAG_DETAIL))},
)


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {
        "ts": draw(valid_event_ts),
        "tenant": draw(st.sampled_from(sorted(TENANTS))),
        "status": draw(st.sampled_from(STATUSES)),
    }
    for name, (required, shortest, longest) in EVENT_STRINGS.items():
        if required or draw(st.booleans()):
            event[name] = draw(text(shortest, longest)) if required or draw(st.integers(0, 4)) else None
    for name, (_, lowest, highest) in EVENT_INTEGERS.items():
        event[name] = draw(st.one_of(st.integers(lowest, highest), st.sampled_from([lowest, highest])))
    event["latency_ms"] = latency = draw(number(*EVENT_NUMBERS["latency_ms"][1:]))
    if draw(st.booleans()):
        event["ttft_ms"] = draw(number(0, latency))
    if draw(st.booleans()):
        event["cost_usd"] = draw(number(*EVENT_NUMBERS["cost_usd"][1:]))
    if draw(st.booleans()):
        event["cache_hit"] = draw(st.sampled_from([True, False, None]))
    if draw(st.booleans()):
        event["safety"] = draw(st.lists(flags, max_size=MAX_FLAGS))
    if draw(st.booleans()):
        event["region"] = draw(st.text(max_size=5))  # unknown fields are ignored
    return event


@st.composite
def valid_results(draw: st.DrawFn) -> dict[str, Any]:
    result: dict[str, Any] = {"ts": draw(valid_result_ts), "passed": draw(st.booleans())}
    for name, (required, shortest, longest) in RESULT_STRINGS.items():
        if required or draw(st.booleans()):
            result[name] = draw(text(shortest, longest))
    for name, (_, lowest, highest) in RESULT_NUMBERS.items():
        if draw(st.booleans()):
            result[name] = draw(number(lowest, highest))
    return result


# --- ways to break a record ---------------------------------------------------------------------

# Mostly one broken rule per record, so that another cannot hide it; sometimes more.
HOW_MANY = st.sampled_from([1, 1, 1, 1, 2, 3])

not_a_string = st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.lists(st.integers(), max_size=2))
not_a_number = st.one_of(st.text(max_size=5), st.booleans(), st.lists(st.integers(), max_size=2), st.just({}))
not_finite = st.sampled_from([math.nan, math.inf, -math.inf])


def unstorable(longest: int) -> st.SearchStrategy[str]:
    return st.tuples(
        st.text(storable, max_size=min(longest - 1, 10)), st.sampled_from(["\x00", "\ud800", "\udfff"])
    ).map(lambda parts: parts[0] + parts[1])


def string_breaks(shortest: int, longest: int, required: bool) -> list[st.SearchStrategy[object]]:
    options = [not_a_string, unstorable(longest), st.just("z" * (longest + 1)), st.just("z" * (longest + 20))]
    if shortest:
        options.append(st.just(""))
    if required:
        options.append(st.none())
    return options


def broken_string(shortest: int, longest: int) -> st.SearchStrategy[object]:
    return st.one_of(*string_breaks(shortest, longest, required=False))


def number_breaks(lowest: float, highest: float, integer: bool, required: bool) -> list[st.SearchStrategy[object]]:
    options: list[st.SearchStrategy[object]] = [
        not_a_number,
        st.integers(1, 10**30).map(lambda n: lowest - n),
        st.integers(1, 10**30).map(lambda n: highest + n),
    ]
    options.append(st.floats(allow_nan=False).filter(lambda f: not f.is_integer()) if integer else not_finite)
    if not integer:
        options.append(st.floats(min_value=highest, exclude_min=True, allow_infinity=False))
    if required:
        options.append(st.none())
    return options


def misshapen(ts: str, how: int) -> str:
    """A valid timestamp of the contract's shape, with one part of the shape broken."""
    date, rest = ts[:10], ts[11:]
    offset_at = max(rest.rfind("+"), rest.rfind("-"))
    if how == 0:  # no offset
        return ts.rstrip("Zz") if ts[-1] in "Zz" else ts[: 11 + offset_at] if offset_at > 0 else ts[:-1]
    if how == 1 and offset_at > 0:  # ±HHMM
        return ts[:-3] + ts[-2:]
    if how == 2:  # no seconds
        return ts[:16] + ts[19:].lstrip("0123456789.")
    if how == 3:  # another separator
        return date + "_" + rest
    return date.replace("-", "/") + ts[10:]


def ts_breaks(earliest: dt.datetime | None) -> list[st.SearchStrategy[object]]:
    shapes = st.sampled_from(
        [
            "2026-02-28T10:00:00",  # no offset
            "2026-02-28T10:00Z",  # no seconds
            "2026-02-28",
            "2026-02-28T10:00:00+0100",  # offset without a colon
            "2026-02-28T10:00:00,5Z",
            "28/02/2026 10:00:00 +00:00",
            "2026-02-30T10:00:00Z",  # no such day
            "2026-02-28T10:00:60Z",  # no leap seconds
            "2026-02-28T25:00:00Z",
            "",
            "yesterday",
        ]
    )
    future = st.one_of(st.integers(5 * 60 + 1, 6 * 60), st.integers(5 * 60 + 1, 400 * 86400)).map(
        lambda s: (NOW + dt.timedelta(seconds=s)).isoformat().replace("+00:00", "Z")
    )
    options: list[st.SearchStrategy[object]] = [shapes, future, st.integers(), st.booleans(), st.none()]
    options += [valid_event_ts.map(lambda ts, how=how: misshapen(ts, how)) for how in range(5)]
    if earliest is not None:
        options.append(st.integers(60, 3650 * 86400).map(lambda s: (earliest - dt.timedelta(seconds=s)).isoformat()))
    return options


EVENT_RULES = [
    *EVENT_STRINGS,
    *EVENT_NUMBERS,
    *EVENT_INTEGERS,
    "ts",
    "tenant",
    "status",
    "cache_hit",
    "safety",
    "ttft_ms>latency_ms",
]


def event_breaks(name: str) -> list[st.SearchStrategy[object]]:
    """The ways to break one rule of an event field, each a strategy for a bad value."""
    if name in EVENT_STRINGS:
        required, shortest, longest = EVENT_STRINGS[name]
        return string_breaks(shortest, longest, required)
    if name in EVENT_NUMBERS or name in EVENT_INTEGERS:
        required, lowest, highest = {**EVENT_NUMBERS, **EVENT_INTEGERS}[name]
        return number_breaks(lowest, highest, name in EVENT_INTEGERS, required)
    if name == "ts":
        return ts_breaks(OLDEST)
    if name == "tenant":
        return [st.none(), not_a_string, st.text(max_size=20).filter(lambda s: s not in TENANTS)]
    if name == "status":
        return [st.none(), not_a_string, st.text(max_size=12).filter(lambda s: s not in STATUSES)]
    if name == "cache_hit":
        return [st.integers(), st.text(max_size=5), st.floats(allow_nan=False)]
    if name == "safety":
        return [st.just(kind) for kind in range(SAFETY_BREAKS)]
    return [st.nothing()]  # ttft_ms > latency_ms: one way


def break_event(draw: st.DrawFn, event: dict[str, Any], name: str, how: int) -> str:
    """Break rule ``name`` of ``event`` the ``how``-th way; returns the field to be named."""
    if name == "ttft_ms>latency_ms":
        latency = event["latency_ms"]
        if latency >= EVENT_NUMBERS["ttft_ms"][2]:
            event["latency_ms"] = latency = 1000
        event["ttft_ms"] = draw(st.floats(min_value=latency, max_value=EVENT_NUMBERS["ttft_ms"][2], exclude_min=True))
        return "ttft_ms"
    if name == "safety":
        where, event["safety"] = draw(broken_safety(how))
        return where
    event[name] = draw(event_breaks(name)[how])
    return name


@st.composite
def broken_events(draw: st.DrawFn) -> tuple[object, set[str]]:
    """A record with 1 to 3 rules broken, and the fields it may be rejected for."""
    event = draw(valid_events())
    if draw(st.integers(0, 30)) == 0:
        return draw(st.one_of(st.none(), st.integers(), st.text(max_size=3), st.lists(st.none(), max_size=2))), {
            "event"
        }
    chosen = draw(st.lists(st.sampled_from(EVENT_RULES), min_size=1, max_size=draw(HOW_MANY), unique=True))
    # The relation between fields is broken first, from still valid values.
    chosen.sort(key=lambda name: name != "ttft_ms>latency_ms")
    return event, {break_event(draw, event, name, draw(st.integers(0, len(event_breaks(name)) - 1))) for name in chosen}


SAFETY_BREAKS = 7


@st.composite
def broken_safety(draw: st.DrawFn, kind: int) -> tuple[str, object]:
    if kind == 0:
        return "safety", draw(st.one_of(st.text(max_size=5), st.integers(), st.just({})))
    if kind == 1:
        return "safety", draw(st.lists(flags, min_size=MAX_FLAGS + 1, max_size=MAX_FLAGS + 1))
    good = draw(st.lists(flags, max_size=3))
    position = draw(st.integers(0, len(good)))
    flag = dict(draw(flags))
    where = f"safety[{position}]"
    if kind == 2:
        flag, where = draw(st.one_of(st.text(max_size=5), st.integers(), st.none())), where  # type: ignore[assignment]
    elif kind == 3:
        flag["kind"] = draw(st.one_of(st.none(), broken_string(*FLAG_KIND)))
        where += ".kind"
    elif kind == 4:
        flag["severity"] = draw(
            st.one_of(st.none(), not_a_string, st.text(max_size=9).filter(lambda s: s not in SEVERITIES))
        )
        where += ".severity"
    elif kind == 5:
        del flag["severity"]
        where += ".severity"
    else:
        flag["detail"] = draw(st.one_of(not_a_string, unstorable(FLAG_DETAIL[1])))
        where += ".detail"
    return where, [*good[:position], flag, *good[position:]]


@st.composite
def broken_results(draw: st.DrawFn) -> tuple[object, set[str]]:
    result = draw(valid_results())
    if draw(st.integers(0, 30)) == 0:
        return draw(st.one_of(st.none(), st.integers(), st.lists(st.none(), max_size=2))), {"result"}
    names = [*RESULT_STRINGS, *RESULT_NUMBERS, "ts", "passed"]
    expected: set[str] = set()
    for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=draw(HOW_MANY), unique=True)):
        if name in RESULT_STRINGS:
            required, shortest, longest = RESULT_STRINGS[name]
            result[name] = draw(st.one_of(broken_string(shortest, longest), *([st.just(None)] if required else [])))
        elif name in RESULT_NUMBERS:
            _, lowest, highest = RESULT_NUMBERS[name]
            result[name] = draw(st.one_of(*number_breaks(lowest, highest, False, False)))
        elif name == "ts":
            result["ts"] = draw(st.one_of(*ts_breaks(None)))
        else:
            result["passed"] = draw(st.one_of(st.none(), st.integers(), st.text(max_size=5)))
        expected.add(name)
    return result, expected


# --- the verdicts -------------------------------------------------------------------------------

batches = st.lists(
    st.one_of(valid_events().map(lambda e: (e, set())), broken_events()),
    min_size=1,
    max_size=6,
)


def known_tenants(slugs: object) -> dict[str, TenantInfo]:
    return {slug: TENANTS[slug] for slug in slugs if slug in TENANTS}  # type: ignore[attr-defined]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batches)
def test_event_verdicts_follow_the_documented_rules(batch):
    records = [record for record, _ in batch]
    valid, problems = validate_events(records, known_tenants, NOW, OLDEST)
    accepted = {event.index for event in valid}
    rejected = dict(problems)
    assert len(rejected) == len(problems), "one rejection per record"
    assert [index for index, _ in problems] == sorted(rejected), "rejections in record order"
    for index, (record, broken) in enumerate(batch):
        if not broken:
            assert index in accepted, (record, rejected.get(index))
            continue
        assert index in rejected, (record, broken)
        problem = rejected[index]
        assert problem.field in broken, (record, broken, problem)
        assert isinstance(problem.error, str)
        assert problem.error
    assert accepted.isdisjoint(rejected)
    for event in valid:
        record = records[event.index]
        assert isinstance(record, dict)
        assert event.tenant == TENANTS[record["tenant"]]
        assert event.row[2] == record["event_id"]
        assert event.row[18] == len(record.get("safety") or [])


def _verdicts(valid, problems):
    return [(e.index, e.row, e.safety, e.input, e.output, e.user) for e in valid], problems


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batches)
def test_a_body_decoded_straight_into_events_gets_the_same_verdicts(batch):
    """The API decodes a clean JSON body straight into EventIn: every record, stored row and
    problem must be what the record-by-record path makes of the same body."""
    try:
        body = orjson.dumps({"events": [record for record, _ in batch]})
    except TypeError:  # an integer JSON cannot carry: such a body is refused before validation
        assume(False)
    records = orjson.loads(body)["events"]
    by_record = validate_events(records, known_tenants, NOW, OLDEST)
    typed = decode_events_body(body)
    if typed is None:
        assert by_record[1], "the fast way refused a body whose records all keep the field rules"
        return
    assert _verdicts(*validate_events(typed, known_tenants, NOW, OLDEST)) == _verdicts(*by_record)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(valid_results().map(lambda r: (r, set())), broken_results()), min_size=1, max_size=6))
def test_eval_result_verdicts_follow_the_documented_rules(batch):
    verdicts = validate_results([record for record, _ in batch], NOW)
    assert len(verdicts) == len(batch)
    for (record, broken), verdict in zip(batch, verdicts, strict=True):
        if not broken:
            assert type(verdict) is tuple, (record, verdict)
            assert verdict[0] == record["run_id"]
            continue
        assert type(verdict) is not tuple, (record, broken)
        assert verdict.field in broken, (record, broken, verdict)
        assert verdict.error


@pytest.mark.parametrize(
    ("rule", "how"), [(rule, how) for rule in EVENT_RULES for how in range(len(event_breaks(rule)))]
)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_each_way_of_breaking_each_rule_is_rejected_for_its_field(rule, how, data):
    event = data.draw(valid_events())
    field = break_event(data.draw, event, rule, how)
    valid, problems = validate_events([event], known_tenants, NOW, OLDEST)
    assert valid == []
    [(index, problem)] = problems
    assert (index, problem.field) == (0, field), (event, problem)
