"""Traffic for the alert rules, sent through the real ingest path and folded into rollups,
at times chosen by the test: the clock is moved with time_machine."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

import pytest
import time_machine

from opsdash.alerts.models import Alert
from opsdash.alerts.signals import alert_changed
from opsdash.ingest.events import ingest_events
from tests.dashboards.conftest import fold_all
from tests.telemetry.factories import rfc3339, truncate_raw

_serial = itertools.count()
NOTICE_KEYS = {
    "alert_id", "state", "transition", "rule", "severity", "title", "text", "path", "tenant", "opened_at",
}  # fmt: skip


def event(ts: dt.datetime, tenant: str = "acme", **fields: object) -> dict[str, object]:
    record: dict[str, object] = {
        "event_id": f"al-{next(_serial)}",
        "ts": rfc3339(ts),
        "tenant": tenant,
        "route": "/chat",
        "model": "gpt-4o-mini",
        "status": "ok",
        "latency_ms": 200.0,
        "input_tokens": 100,
        "output_tokens": 20,
        "cost_usd": 0.0,
    }
    record.update(fields)
    return record


def send(events: list[dict[str, object]]) -> None:
    """Ingest and fold, so the rollups the rules read have them."""
    result = ingest_events(events)
    assert result.accepted == len(events), result.rejected[:3]
    fold_all(len(events))


def spread(start: dt.datetime, end: dt.datetime, n: int, **fields: object) -> list[dict[str, object]]:
    """``n`` events evenly between ``start`` and ``end``."""
    step = (end - start) / n
    return [event(start + step * i + step / 2, **fields) for i in range(n)]


class Clock:
    def __init__(self, traveller: time_machine.Coordinates) -> None:
        self.traveller = traveller

    def at(self, when: dt.datetime) -> dt.datetime:
        self.traveller.move_to(when)
        return when


@pytest.fixture
def clock() -> Iterator[Clock]:
    """A stopped clock the test moves with ``clock.at(datetime)``."""
    with time_machine.travel(dt.datetime(2026, 11, 10, 9, 0, tzinfo=dt.UTC), tick=False) as traveller:
        yield Clock(traveller)


@pytest.fixture
def rollups(transactional_db) -> Iterator[None]:
    """Committed data (the fold only takes finished transactions) and empty raw tables."""
    truncate_raw()
    yield
    truncate_raw()


@pytest.fixture
def notices() -> Iterator[list[dict[str, object]]]:
    received: list[dict[str, object]] = []

    def receiver(sender: object, notice: dict[str, object], **kwargs: object) -> None:
        assert sender is Alert
        received.append(notice)

    alert_changed.connect(receiver, dispatch_uid="tests-alert-notices")
    yield received
    alert_changed.disconnect(dispatch_uid="tests-alert-notices")


def unresolved(rule: str | None = None):  # type: ignore[no-untyped-def]
    alerts = Alert.objects.exclude(state=Alert.State.RESOLVED)
    return alerts.filter(rule=rule) if rule else alerts
