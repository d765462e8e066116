"""Writes about notification channels, and dispatching alert notices to them.

The channel writes are for global admins: each takes the acting user keyword-only, runs in
one transaction and writes its audit event in it. A delivery is handed to the worker only
on commit. Secrets are returned to the caller once and never written to the audit trail.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from opsdash.accounts import access
from opsdash.audit.services import record_event
from opsdash.notifications.models import DEFAULT_TRANSITIONS, SEVERITIES, TRANSITIONS, Channel, Delivery
from opsdash.notifications.payloads import clean_notice
from opsdash.notifications.tasks import deliver

log = logging.getLogger(__name__)

MANAGE_PERMISSION = "notifications.manage_channels"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
EDITABLE_FIELDS = ("name", "url", "recipients", "min_severity", "transitions", "enabled")


def issue_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _require(user: Any) -> None:
    # access.py registers the permission; importing it makes sure it exists.

    if user is None or not getattr(user, "is_authenticated", False) or not access.has_perm(user, MANAGE_PERMISSION):
        raise PermissionDenied("Only an admin over every tenant manages notification channels.")


def _audit(action: str, channel: Channel, *, acting_user: Any, request: HttpRequest | None, **fields: Any) -> None:
    record_event(action, actor=acting_user, target=channel, target_label=channel.name, request=request, **fields)


def _clean_recipients(recipients: Iterable[str]) -> list[str]:
    kept, seen = [], set()
    for address in (a.strip() for a in recipients):
        if address and address.lower() not in seen:
            kept.append(address)
            seen.add(address.lower())
    return kept


def _normalise(channel: Channel) -> None:
    """Keep only what the channel's kind uses, so an email channel holds no URL and the reverse."""
    if channel.kind == Channel.Kind.WEBHOOK:
        channel.recipients = []
        channel.url = channel.url.strip()
    else:
        channel.url = ""
    channel.recipients = _clean_recipients(channel.recipients)
    order = {name: i for i, name in enumerate(TRANSITIONS)}
    channel.transitions = sorted(set(channel.transitions), key=lambda t: (order.get(str(t), len(order)), str(t)))
    channel.full_clean(exclude=["created_by"])


@transaction.atomic
def create_channel(
    *,
    acting_user: Any,
    name: str,
    kind: str,
    url: str = "",
    recipients: Iterable[str] = (),
    min_severity: str = "",
    transitions: Iterable[str] = DEFAULT_TRANSITIONS,
    enabled: bool = True,
    request: HttpRequest | None = None,
) -> tuple[Channel, str | None]:
    """Create a channel. A webhook gets a signing secret, returned here once (None for email).

    Raises ValidationError naming the bad field, PermissionDenied for a non-admin."""
    _require(acting_user)
    channel = Channel(
        name=name,
        kind=kind,
        url=url,
        recipients=list(recipients),
        min_severity=min_severity,
        transitions=list(transitions),
        enabled=enabled,
        created_by=acting_user,
    )
    secret = issue_secret() if kind == Channel.Kind.WEBHOOK else None
    _normalise(channel)
    if secret:
        channel.secret, channel.secret_rotated_at = secret, timezone.now()
    channel.save(force_insert=True)
    _audit("channel.create", channel, acting_user=acting_user, request=request, after=channel.describe())
    return channel, secret


def _locked(channel: Channel) -> Channel:
    return Channel.objects.select_for_update().get(pk=channel.pk)


@transaction.atomic
def update_channel(
    channel: Channel, *, acting_user: Any, request: HttpRequest | None = None, **changes: Any
) -> Channel:
    """Change any of name, url, recipients, min_severity, transitions and enabled (the kind
    stays: a webhook turned into email would keep a secret it no longer needs)."""
    _require(acting_user)
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValueError(f"cannot change {', '.join(unknown)} of a channel")
    channel = _locked(channel)
    before, old_values = channel.describe(), _values(channel)
    for field, value in changes.items():
        setattr(channel, field, list(value) if field in ("recipients", "transitions") else value)
    _normalise(channel)
    changed = [field for field, value in _values(channel).items() if old_values[field] != value]
    if not changed:
        return channel
    channel.save(update_fields=[*changed, "updated_at"])
    # describe() shows a webhook's host only (its path can be a credential), so a changed
    # path is recorded by name alone.
    _audit(
        "channel.update",
        channel,
        acting_user=acting_user,
        request=request,
        before=before,
        after=channel.describe(),
        detail={"changed": changed},
    )
    return channel


def _values(channel: Channel) -> dict[str, Any]:
    return {field: getattr(channel, field) for field in EDITABLE_FIELDS}


@transaction.atomic
def set_enabled(channel: Channel, *, acting_user: Any, enabled: bool, request: HttpRequest | None = None) -> Channel:
    _require(acting_user)
    channel = _locked(channel)
    if channel.enabled == enabled:
        return channel
    channel.enabled = enabled
    channel.save(update_fields=["enabled", "updated_at"])
    _audit(
        "channel.enable" if enabled else "channel.disable",
        channel,
        acting_user=acting_user,
        request=request,
        before={"enabled": not enabled},
        after={"enabled": enabled},
    )
    return channel


@transaction.atomic
def rotate_secret(channel: Channel, *, acting_user: Any, request: HttpRequest | None = None) -> str:
    """Issue a new signing secret, returned once; the old one stops signing at once."""
    _require(acting_user)
    channel = _locked(channel)
    if channel.kind != Channel.Kind.WEBHOOK:
        raise ValueError("Only webhook channels have a signing secret.")
    secret = issue_secret()
    channel.secret, channel.secret_rotated_at = secret, timezone.now()
    channel.save(update_fields=["secret", "secret_rotated_at", "updated_at"])
    _audit("channel.rotate_secret", channel, acting_user=acting_user, request=request)
    return secret


@transaction.atomic
def delete_channel(channel: Channel, *, acting_user: Any, request: HttpRequest | None = None) -> None:
    """Delete a channel and its delivery log; deliveries still queued find it gone and stop."""
    _require(acting_user)
    channel = _locked(channel)
    deliveries = channel.deliveries.count()
    _audit(
        "channel.delete",
        channel,
        acting_user=acting_user,
        request=request,
        before=channel.describe(),
        detail={"deliveries_deleted": deliveries},
    )
    channel.delete()


def _enqueue(delivery_id: int) -> None:
    deliver.delay_on_commit(delivery_id)  # type: ignore[attr-defined]  # DjangoTask, set by Celery's Django fixup


def build_test_notice(channel: Channel, acting_user: Any) -> dict[str, Any]:
    who = acting_user.get_username() if acting_user is not None else "opsdash"
    return clean_notice(
        {
            "alert_id": 0,
            "state": "open",
            "transition": "test",
            "rule": "notifications.test",
            "severity": "info",
            "title": f"Test notification for {channel.name}",
            "text": f"{who} sent this from opsdash to check that the channel works. No alert is open.",
            "path": reverse("channel-detail", kwargs={"channel_id": channel.pk}),
            "tenant": "",
            "opened_at": timezone.now().isoformat(timespec="seconds"),
        }
    )


@transaction.atomic
def send_test(channel: Channel, *, acting_user: Any, request: HttpRequest | None = None) -> Delivery:
    """Queue a test notice to the channel, enabled or not; its result shows in the delivery log."""
    _require(acting_user)
    delivery = Delivery.objects.create(
        channel=channel, kind=Delivery.Kind.TEST, notice=build_test_notice(channel, acting_user)
    )
    _audit("channel.send_test", channel, acting_user=acting_user, request=request, detail={"delivery": delivery.pk})
    _enqueue(delivery.pk)
    return delivery


def matching_channels(notice: dict[str, Any]) -> list[Channel]:
    severity, transition = notice.get("severity", ""), notice.get("transition", "")
    candidates = Channel.objects.filter(enabled=True, transitions__contains=[transition]).order_by("pk")
    return [channel for channel in candidates if channel.wants(severity, transition)]


@transaction.atomic
def dispatch(notice: dict[str, Any]) -> list[int]:
    """One Delivery per enabled channel that wants this notice (its transition, at or above
    the channel's minimum severity), each sent by the worker once this transaction commits.

    Raises payloads.BadNotice for a notice that does not follow opsdash/alerts/signals.py."""
    cleaned = clean_notice(notice)
    if cleaned["severity"] not in SEVERITIES:
        log.warning(
            "alert %s has an unknown severity %r; sent as the highest", cleaned["alert_id"], cleaned["severity"]
        )
    deliveries = Delivery.objects.bulk_create(
        [Delivery(channel=channel, kind=Delivery.Kind.ALERT, notice=cleaned) for channel in matching_channels(cleaned)]
    )
    ids = [delivery.pk for delivery in deliveries]
    for delivery_id in ids:
        _enqueue(delivery_id)
    return ids
