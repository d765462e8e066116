"""The hash chain over AuditEvent rows."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64

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
    "ip_address",
    "before",
    "after",
    "detail",
)


def _canonical(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def row_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    payload = {name: _canonical(fields.get(name)) for name in HASHED_FIELDS}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + text).encode()).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    row_id: int
    reason: str


def first_break(rows: Iterable[dict[str, Any]]) -> ChainBreak | None:
    """The first row (in id order) where the chain does not hold, or None when intact."""
    expected_prev = GENESIS
    for row in rows:
        if row["prev_hash"] != expected_prev:
            return ChainBreak(
                row["id"],
                "its previous-hash does not match the row before it (a row was deleted, "
                "inserted or reordered before it)",
            )
        if row_hash(row["prev_hash"], row) != row["hash"]:
            return ChainBreak(row["id"], "its contents do not match its hash (the row was edited)")
        expected_prev = row["hash"]
    return None
