"""The keyed hash chain over AuditEvent rows.

Each row's hash is an HMAC-SHA256, under a key kept outside the database
(``OPSDASH_AUDIT_KEY``), of the previous row's hash and the row's own fields. Someone who can
write the table but does not hold the key cannot re-sign an edited row, and a deleted tail is
caught by the signed checkpoints (audit/checkpoints.py) written outside the database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
# Appends (and checkpoints) take this advisory lock so two writers never chain onto the same
# row and a checkpoint never sees half of an append.
CHAIN_LOCK = 0x0A0D17

# Every column that carries meaning is hashed; the id too, so moving rows is detected.
HASHED_FIELDS = (
    "id",
    "ts",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "object_label",
    "tenant_id",
    "tenant_ids",
    "all_tenants",
    "ip_address",
    "before",
    "after",
    "detail",
)

# The fields of the first, unkeyed chain (before tenant_ids and all_tenants existed); read
# only by the migration that re-signed it.
LEGACY_FIELDS = tuple(f for f in HASHED_FIELDS if f not in ("tenant_ids", "all_tenants"))


def _canonical(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _payload(prev_hash: str, fields: dict[str, Any], names: tuple[str, ...]) -> bytes:
    payload = {name: _canonical(fields.get(name)) for name in names}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return (prev_hash + text).encode()


def row_hash(prev_hash: str, fields: dict[str, Any], key: bytes) -> str:
    return hmac.new(key, _payload(prev_hash, fields, HASHED_FIELDS), hashlib.sha256).hexdigest()


def legacy_row_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256(_payload(prev_hash, fields, LEGACY_FIELDS)).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    row_id: int | None
    reason: str


@dataclass
class ChainWalk:
    """What one pass over the chain saw: the first break, and enough to check checkpoints."""

    rows: int = 0
    last_id: int | None = None
    last_hash: str = GENESIS
    broken: ChainBreak | None = None
    # For each id asked about (the checkpoints' last rows): (rows up to it, its hash).
    marks: dict[int, tuple[int, str]] | None = None


def walk(rows: Iterable[dict[str, Any]], key: bytes, mark_ids: Iterable[int] = (), hasher: Any = None) -> ChainWalk:
    """Check rows in id order; stops at the first break."""
    hasher = hasher or (lambda prev, row: row_hash(prev, row, key))
    wanted = set(mark_ids)
    result = ChainWalk(marks={})
    expected_prev = GENESIS
    for row in rows:
        if row["prev_hash"] != expected_prev:
            result.broken = ChainBreak(
                row["id"],
                "its previous-hash does not match the row before it (a row was deleted, "
                "inserted or reordered before it)",
            )
            return result
        if not hmac.compare_digest(hasher(row["prev_hash"], row), row["hash"]):
            result.broken = ChainBreak(
                row["id"], "its contents do not match its signature (the row was edited, or signed with another key)"
            )
            return result
        result.rows += 1
        result.last_id, result.last_hash = row["id"], row["hash"]
        if row["id"] in wanted:
            assert result.marks is not None
            result.marks[row["id"]] = (result.rows, row["hash"])
        expected_prev = row["hash"]
    return result


def first_break(rows: Iterable[dict[str, Any]], key: bytes) -> ChainBreak | None:
    """The first row (in id order) where the chain does not hold, or None when intact."""
    return walk(rows, key).broken
