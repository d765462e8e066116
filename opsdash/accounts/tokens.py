"""Bearer-token authentication for the machine APIs (ingest and gateway)."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from opsdash.accounts.models import ApiToken
from opsdash.http import json_error
from opsdash.lib.hashing import hash_secret, secret_matches, split_secret

# last_used_at is written at most this often per token: a busy producer must not turn
# every request into an UPDATE of the same row.
LAST_USED_EVERY = timedelta(minutes=1)
_DUMMY_HASH = hash_secret("opsdash-no-such-token")


def authenticate(request: HttpRequest, kind: str) -> ApiToken | None:
    """The active token of ``kind`` named by ``Authorization: Bearer <secret>``, else None.

    The hash is compared in constant time, and compared even when no row matched, so
    timing tells nothing about which prefixes exist.
    """
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        return None
    parts = split_secret(secret)
    token = None
    if parts is not None:
        token = ApiToken.objects.filter(prefix=parts[1], kind=kind, revoked_at__isnull=True).first()
    if not secret_matches(secret, token.secret_hash if token else _DUMMY_HASH) or token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def unauthorized(kind: str) -> JsonResponse:
    response = json_error(401, "unauthorized", f"send Authorization: Bearer <{kind} token>")
    response["WWW-Authenticate"] = "Bearer"
    return response
