"""Embedding vectors in Postgres: pgvector's ``vector`` when the server has it, else ``real[]``.

The column type is decided when the table is created (the migration enables the
extension if the server offers it). Both types accept a list of floats on insert
(pgvector casts float arrays on assignment), so writes need not know which one it
is; reads come back as a list (``real[]``) or as pgvector's text form, and both are
turned into a list of floats here.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
from django.db import models

VECTOR = "vector"
ARRAY = "real[]"


def has_pgvector(connection: Any) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
        return cursor.fetchone() is not None


def pgvector_available(connection: Any) -> bool:
    """The server ships the extension (it may still need CREATE EXTENSION)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        return cursor.fetchone() is not None


_column_kinds: dict[tuple[str, str], str] = {}


def column_kind(connection: Any, table: str = "knowledge_embedding", column: str = "vector") -> str:
    """VECTOR or ARRAY: how ``table.column`` was created on this database."""
    key = (connection.settings_dict["NAME"], f"{table}.{column}")
    if key not in _column_kinds:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                "WHERE a.attrelid = to_regclass(%s) AND a.attname = %s",
                [table, column],
            )
            row = cursor.fetchone()
        if row is None:
            return ARRAY
        _column_kinds[key] = VECTOR if row[0].startswith("vector") else ARRAY
    return _column_kinds[key]


def parse_vector(value: Any) -> list[float] | None:
    if value is None:
        return None
    if isinstance(value, str):
        inner = value.strip().strip("[]{}")
        return [float(part) for part in inner.split(",")] if inner else []
    return [float(part) for part in value]


_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_FLOAT4_OID = 700


def binary_copy(keys: Sequence[tuple[int, ...]], matrix: np.ndarray, kind: str) -> bytes:
    """A COPY ... (FORMAT BINARY) stream of rows (*bigint keys, vector).

    Formatting floats as text costs microseconds each in Python; the binary form is
    the array's bytes in network order, for pgvector's ``vector`` and for ``real[]``.
    """
    rows, dims = matrix.shape
    data = np.ascontiguousarray(matrix, dtype=">f4")
    if kind == VECTOR:
        vector_header = struct.pack("!hh", dims, 0)
        payloads = [vector_header + data[i].tobytes() for i in range(rows)]
    else:
        array_header = struct.pack("!iiiii", 1, 0, _FLOAT4_OID, dims, 1)
        # Each element of an array is preceded by its length (4 bytes).
        framed = np.empty((rows, dims), dtype=[("len", ">i4"), ("val", ">f4")])
        framed["len"], framed["val"] = 4, data
        payloads = [array_header + framed[i].tobytes() for i in range(rows)]
    parts = [_COPY_HEADER]
    for key, payload in zip(keys, payloads, strict=True):
        parts.append(struct.pack("!h", len(key) + 1))
        for value in key:
            parts.append(struct.pack("!iq", 8, value))
        parts.append(struct.pack("!i", len(payload)))
        parts.append(payload)
    parts.append(struct.pack("!h", -1))
    return b"".join(parts)


class VectorField(models.Field):
    description = "An embedding vector (pgvector's vector, or real[] without the extension)"

    def db_type(self, connection: Any) -> str:
        return VECTOR if has_pgvector(connection) else ARRAY

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> list[float] | None:
        return parse_vector(value)

    def to_python(self, value: Any) -> list[float] | None:
        return parse_vector(value)

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        return [float(x) for x in value]
