"""Signed checkpoints of the audit chain, kept outside the database.

A checkpoint says "database D held N chained rows, the last being row I with hash H", signed
with the audit key. It is appended to a file (OPSDASH_AUDIT_CHECKPOINT_FILE) and written to
the log on a schedule. Deleting rows from the end of the chain leaves a shorter chain that is
consistent in itself; a checkpoint taken before the deletion no longer matches it, and that is
how `verify_audit` finds a truncated tail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from opsdash.audit.chain import CHAIN_LOCK, GENESIS
from opsdash.audit.models import AuditEvent, ChainVerification

logger = logging.getLogger("opsdash.audit")

_SIGNED = ("database", "rows", "last_id", "last_hash", "at")


def _signature(checkpoint: dict[str, Any]) -> str:
    text = json.dumps({k: checkpoint.get(k) for k in _SIGNED}, sort_keys=True, separators=(",", ":"))
    return hmac.new(settings.AUDIT_KEY, b"checkpoint:" + text.encode(), hashlib.sha256).hexdigest()


def database_name() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        return str(cursor.fetchone()[0])


def take() -> dict[str, Any]:
    """The chain's present end, signed (not written anywhere).

    Count and last row are read under the chain's append lock, so no row committed between
    the two reads can make them disagree (which verify_audit would report as tampering)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])
        last = AuditEvent.objects.order_by("-id").values_list("id", "hash").first()
        rows = AuditEvent.objects.count()
    checkpoint: dict[str, Any] = {
        "database": database_name(),
        "rows": rows,
        "last_id": last[0] if last else None,
        "last_hash": last[1] if last else GENESIS,
        "at": timezone.now().isoformat(timespec="seconds"),
    }
    checkpoint["sig"] = _signature(checkpoint)
    return checkpoint


def write(path: Path | None = None) -> dict[str, Any]:
    """Take a checkpoint, append it to the checkpoint file (synced to disk) and log it."""
    checkpoint = take()
    path = path or settings.AUDIT_CHECKPOINT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(checkpoint, sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    logger.info("audit checkpoint %s", line.strip())
    return checkpoint


@dataclass(frozen=True)
class Checkpoint:
    line: int
    data: dict[str, Any]


@dataclass(frozen=True)
class Unreadable:
    line: int
    reason: str


def read(path: Path | None = None) -> list[Checkpoint | Unreadable]:
    """Every line of the checkpoint file: a Checkpoint when its signature holds."""
    path = path or settings.AUDIT_CHECKPOINT_FILE
    if not path.exists():
        return []
    entries: list[Checkpoint | Unreadable] = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            entries.append(Unreadable(number, "it is not JSON"))
            continue
        if not isinstance(data, dict) or not hmac.compare_digest(str(data.get("sig", "")), _signature(data)):
            entries.append(Unreadable(number, "its signature does not match (edited, or signed with another key)"))
            continue
        entries.append(Checkpoint(number, data))
    return entries


def _verification_signature(fields: dict[str, Any]) -> str:
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hmac.new(settings.AUDIT_KEY, b"verification:" + text.encode(), hashlib.sha256).hexdigest()


def _verification_fields(v: ChainVerification) -> dict[str, Any]:
    return {
        "checked_at": v.checked_at.isoformat(),
        "rows": v.rows,
        "ok": v.ok,
        "row_id": v.row_id,
        "reason": v.reason,
        "checkpoints": v.checkpoints,
        "warnings": v.warnings,
    }


def record_verification(report: Any) -> ChainVerification:
    """Keep a signed summary of a full check (a selectors.ChainReport) for the audit page."""
    broken = report.broken
    verification = ChainVerification(
        checked_at=timezone.now(),
        rows=report.rows,
        ok=broken is None,
        row_id=broken.row_id if broken else None,
        reason=broken.reason if broken else "",
        checkpoints=report.checkpoints_checked,
        warnings=list(report.warnings),
    )
    verification.signature = _verification_signature(_verification_fields(verification))
    verification.save()
    return verification


def latest_verification() -> tuple[ChainVerification | None, bool]:
    """The newest recorded check and whether its signature holds (a row written by someone
    without the key, e.g. to paint a broken chain green, does not)."""
    verification = ChainVerification.objects.order_by("-checked_at", "-id").first()
    if verification is None:
        return None, False
    expected = _verification_signature(_verification_fields(verification))
    return verification, hmac.compare_digest(expected, verification.signature)
