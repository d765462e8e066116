"""Decoding shared by the ingest endpoints and the ``ingest`` command.

``read_body`` reads a request body, decompressing gzip (several members back to back,
as ``cat a.gz b.gz`` makes) and, where the caller allows it, deflate, and never holds
more than the limit of either the bytes on the wire or the decompressed bytes. It
raises a ``BodyError``, which each endpoint words in its own way.

``ndjson_records`` iterates over NDJSON lines: blank lines are skipped and an
unreadable line yields an ``Unreadable`` in place of its record.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import orjson
from django.http import HttpRequest

CHUNK = 64 * 1024

GZIP = ("gzip", "x-gzip")
DEFLATE = "deflate"
IDENTITY = ("", "identity")


# --- Errors -----------------------------------------------------------------------------------


class BodyError(Exception):
    """A body that cannot be read; the endpoint maps it to its own status and wording."""


class UnsupportedEncoding(BodyError):
    def __init__(self, encoding: str) -> None:
        super().__init__(f"unsupported content encoding {encoding!r}")
        self.encoding = encoding


class InvalidLength(BodyError):
    def __init__(self) -> None:
        super().__init__("invalid Content-Length")


class TooLarge(BodyError):
    """More than ``limit`` bytes: ``declared`` by Content-Length, sent, or once ``inflated``."""

    def __init__(self, limit: int, *, declared: int | None = None, inflated: bool = False) -> None:
        super().__init__(f"body too large; the limit is {limit} bytes")
        self.limit, self.declared, self.inflated = limit, declared, inflated


class InvalidCompression(BodyError):
    """A compressed body that does not decompress; ``codec`` is "gzip" or "deflate"."""

    def __init__(self, codec: str, reason: str) -> None:
        super().__init__(f"invalid {codec} body: {reason}")
        self.codec, self.reason = codec, reason


# --- Bodies -----------------------------------------------------------------------------------


def read_body(request: HttpRequest, limit: int, *, deflate: bool = False) -> bytes:
    """The request body, decompressed, never holding more than ``limit`` bytes of it."""
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in (*IDENTITY, *GZIP) and not (deflate and encoding == DEFLATE):
        raise UnsupportedEncoding(encoding)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise InvalidLength from None
    if declared > limit:
        raise TooLarge(limit, declared=declared)
    raw = bytearray()
    while True:
        chunk = request.read(min(CHUNK, limit + 1 - len(raw)))
        if not chunk:
            break
        raw += chunk
        if len(raw) > limit:
            raise TooLarge(limit)
    if encoding in GZIP:
        return inflate(bytes(raw), limit, codec="gzip")
    if encoding == DEFLATE:
        return inflate(bytes(raw), limit, codec="deflate")
    return bytes(raw)


def inflate(data: bytes, limit: int, *, codec: str) -> bytes:
    """Decompress at most ``limit`` bytes: a small bomb cannot inflate into memory.

    gzip allows several members back to back, each read with its own decompressor;
    deflate (a zlib stream) is one stream, and anything after its end is ignored.
    """
    wbits = 16 + zlib.MAX_WBITS if codec == "gzip" else zlib.MAX_WBITS
    out = bytearray()
    while data:
        inflater = zlib.decompressobj(wbits=wbits)
        try:
            while True:
                out += inflater.decompress(data, limit + 1 - len(out))
                if len(out) > limit:
                    raise TooLarge(limit, inflated=True)
                data = inflater.unconsumed_tail
                if inflater.eof:
                    data = inflater.unused_data
                    break
                if not data:
                    raise InvalidCompression(codec, "the compressed stream is truncated")
        except zlib.error as exc:
            raise InvalidCompression(codec, str(exc)) from None
        if codec != "gzip":
            break
    return bytes(out)


# --- NDJSON -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unreadable:
    """A line that is not valid JSON; ``error`` is the parser's message."""

    error: str


def ndjson_records(lines: Iterable[bytes]) -> Iterator[tuple[int, object]]:
    """(line number, record or ``Unreadable``) for each non-blank line, numbered from 1."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield number, Unreadable(str(exc))
