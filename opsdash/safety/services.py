"""Writes of safety flags."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from opsdash.safety.models import SafetyFlag


@dataclass(frozen=True, slots=True)
class NewFlag:
    tenant_id: int
    ts: dt.datetime
    event_id: str
    conversation_id: str
    route: str
    kind: str
    severity: str
    excerpt: str  # already redacted where the tenant asks for it


def record_flags(flags: list[NewFlag]) -> int:
    """Store the flags an ingested event carried (in the caller's transaction)."""
    SafetyFlag.objects.bulk_create(
        [
            SafetyFlag(
                tenant_id=f.tenant_id,
                ts=f.ts,
                event_id=f.event_id,
                conversation_id=f.conversation_id,
                route=f.route,
                kind=f.kind,
                severity=f.severity,
                excerpt=f.excerpt,
            )
            for f in flags
        ]
    )
    return len(flags)
