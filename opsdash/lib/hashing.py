"""Secrets that opsdash issues (tenant API keys, ingest and gateway tokens).

A secret is ``<kind>_<prefix>_<body>``: the prefix is stored in clear to find the
row by index, the whole secret only as SHA-256. The body carries 192 bits of
randomness, so a plain (unsalted) hash is safe and lets lookups stay one indexed
read plus one constant-time compare.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings

PREFIX_LENGTH = 10


@dataclass(frozen=True)
class IssuedSecret:
    secret: str
    prefix: str
    secret_hash: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_secret(kind: str) -> IssuedSecret:
    prefix = secrets.token_hex(PREFIX_LENGTH // 2)
    secret = f"{kind}_{prefix}_{secrets.token_urlsafe(24)}"
    return IssuedSecret(secret=secret, prefix=prefix, secret_hash=hash_secret(secret))


def split_secret(secret: str) -> tuple[str, str] | None:
    """Return (kind, prefix) of a well-formed secret, else None."""
    parts = secret.split("_", 2)
    if len(parts) != 3 or len(parts[1]) != PREFIX_LENGTH:
        return None
    return parts[0], parts[1]


def secret_matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)


def keyed_hash(value: str) -> str:
    """Hash of an end-user identifier, keyed so the hash cannot be reversed by guessing."""
    key = getattr(settings, "OPSDASH_USER_HASH_KEY", settings.SECRET_KEY).encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]
