"""Hysteresis, shared by every rule of the evaluation.

Each rule sorts what it sees, per subject, into one of three:

- firing: at or past the threshold to open: the alert is opened (or kept, or reopened);
- holding: between the threshold to resolve and the one to open: an open alert stays open
  (its quiet stretch, if one had started, starts over); no alert is opened;
- quiet: below the threshold to resolve (or too little evidence): an open alert resolves
  once it has been quiet for OPSDASH_ALERT_QUIET_MINUTES (services.quiet).

So a condition that wavers around one threshold never opens and resolves an alert over
and over: it opens once, and resolves after a quiet stretch; it can open again only after
that stretch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from opsdash.alerts.models import Alert
from opsdash.alerts.services import Raised, hold, open_or_keep, quiet

K = TypeVar("K", bound=Hashable)


@dataclass
class Report:
    opened: int = 0
    reopened: int = 0
    resolved: int = 0
    paused: int = 0
    resumed: int = 0
    failed: list[str] = field(default_factory=list)

    def count(self, transition: str | None) -> None:
        if transition == "opened":
            self.opened += 1
        elif transition == "reopened":
            self.reopened += 1

    def as_dict(self) -> dict[str, object]:
        return {
            "opened": self.opened,
            "reopened": self.reopened,
            "resolved": self.resolved,
            "paused": self.paused,
            "resumed": self.resumed,
            "failed": self.failed,
        }


def settle[K: Hashable](
    unresolved: Mapping[K, Alert],
    firing: Mapping[K, Raised],
    holding: Mapping[K, Raised | None],
    now: dt.datetime,
    report: Report,
    notify: bool,
) -> None:
    """Bring the alerts of one rule family in line with what it saw at ``now``.

    ``unresolved`` are its alerts not resolved yet, by key; ``firing`` and ``holding`` the
    keys above the threshold to open and the threshold to resolve (holding with the text
    an open alert should now show, or None to leave its text). Every other unresolved
    alert is quiet."""
    for raised in firing.values():
        _, transition = open_or_keep(raised, now=now, notify=notify)
        report.count(transition)
    for key, alert in unresolved.items():
        if key in firing:
            continue
        if key in holding:
            text = holding[key]
            if text is None:
                hold(alert)
            else:
                open_or_keep(text, now=now, notify=notify)
        elif quiet(alert, now=now, notify=notify):
            report.resolved += 1
