"""The worker's side of a delivery: claim it, send one attempt, record the outcome.

Sending twice is avoided by three rules:
- an attempt starts with a conditional UPDATE (pending → sending, attempts + 1) that is
  committed before anything is sent, so a redelivered message finds the delivery in
  flight, delivered or failed and sends nothing;
- a delivery left in ``sending`` by a worker that died is taken over only once its lease
  (longer than the task's hard time limit) has run out;
- the outcome is recorded only by the attempt that still holds the claim.
Receivers get the delivery id in X-Opsdash-Delivery, so the rare repeat after a worker
died mid-request can be dropped on their side.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from opsdash.notifications import payloads, senders
from opsdash.notifications.models import Channel, Delivery

log = logging.getLogger(__name__)
State = Delivery.State

# The task's limits follow from the send time-out: a webhook attempt is a connect and a
# read, each bounded by it; an email a few SMTP round trips.
SOFT_TIME_LIMIT = settings.OPSDASH_WEBHOOK_TIMEOUT_SECONDS * 3 + 10
TIME_LIMIT = SOFT_TIME_LIMIT + 15
LEASE_SECONDS = TIME_LIMIT + 30


# A queued or retried delivery whose message has not come this long after it was due lost
# that message (a broker outage at commit, say): the sweeper sends it again.
STALL_GRACE_SECONDS = 60


@dataclass(frozen=True)
class Result:
    state: str  # what the delivery is now, or "gone"
    retry_in: int | None = None  # run the task again after this many seconds
    busy: bool = False  # another worker holds the delivery


def backoff(attempts: int, retry_after: int | None = None) -> int:
    """Seconds before the next attempt: base, 2 × base, 4 × base, …; longer when the
    receiver asked for it (Retry-After)."""
    wait = settings.OPSDASH_WEBHOOK_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0)
    return max(wait, retry_after or 0)


def _claim(delivery_id: int) -> int | None:
    """The attempt number if this worker may send now, else None."""
    now = timezone.now()
    stale = now - timedelta(seconds=LEASE_SECONDS)
    claimed = (
        Delivery.objects.filter(pk=delivery_id, attempts__lt=settings.OPSDASH_WEBHOOK_MAX_ATTEMPTS)
        .filter(Q(state=State.PENDING) | Q(state=State.SENDING, claimed_at__lt=stale))
        .update(
            state=State.SENDING, attempts=F("attempts") + 1, claimed_at=now, last_attempt_at=now, next_attempt_at=None
        )
    )
    if not claimed:
        return None
    return Delivery.objects.filter(pk=delivery_id).values_list("attempts", flat=True).get()


def _unclaimed(delivery_id: int) -> Result:
    """Why nothing was claimed, and what the message should do about it."""
    row = Delivery.objects.filter(pk=delivery_id).values("state", "claimed_at", "attempts").first()
    if row is None:
        return Result("gone")
    if row["state"] in (State.DELIVERED, State.FAILED):
        return Result(row["state"])
    now = timezone.now()
    lease_end = (row["claimed_at"] or now) + timedelta(seconds=LEASE_SECONDS)
    if row["state"] == State.SENDING and lease_end > now:
        # In flight elsewhere. Come back when its lease ends: if that worker died, this
        # message is the one that finishes the delivery.
        return Result(State.SENDING, retry_in=max(1, int((lease_end - now).total_seconds()) + 1), busy=True)
    if row["attempts"] < settings.OPSDASH_WEBHOOK_MAX_ATTEMPTS:
        # It changed hands between the claim and this read: a pending one has its next
        # attempt queued by the worker that put it back; a stale one is claimed next time.
        return Result(row["state"], retry_in=1 if row["state"] == State.SENDING else None)
    # Out of attempts (a worker died during the last one, or the limit was lowered).
    Delivery.objects.filter(pk=delivery_id, state=row["state"], attempts=row["attempts"]).update(
        state=State.FAILED,
        next_attempt_at=None,
        last_error=f"gave up after {row['attempts']} attempts; the last one did not finish",
    )
    return Result(State.FAILED)


def _send(delivery: Delivery) -> senders.Outcome:
    channel = delivery.channel
    timeout = settings.OPSDASH_WEBHOOK_TIMEOUT_SECONDS
    if delivery.kind == Delivery.Kind.ALERT and not channel.enabled:
        return senders.Outcome(False, error="the channel was disabled before this was sent")
    if channel.kind == Channel.Kind.WEBHOOK:
        body, headers = payloads.webhook_request(
            delivery.notice, secret=channel.secret, delivery_id=delivery.pk, kind=delivery.kind
        )
        outcome = senders.post_webhook(channel.url, body, headers, timeout=timeout)
    else:
        subject, text = payloads.email_message(delivery.notice)
        outcome = senders.send_email(subject, text, list(channel.recipients))
    return outcome


def attempt(delivery_id: int) -> Result:
    """Send one attempt of the delivery unless one is in flight, it has arrived or it is out of
    attempts; safe to call any number of times."""
    number = _claim(delivery_id)
    if number is None:
        return _unclaimed(delivery_id)
    delivery = Delivery.objects.select_related("channel").filter(pk=delivery_id).first()
    if delivery is None:  # its channel was deleted in the meantime
        return Result("gone")
    channel = delivery.channel
    outcome = _send(delivery)
    # A receiver's error page may echo the URL's path, which can be a credential.
    path = urlsplit(channel.url).path if channel.url else ""
    error = senders.scrub(outcome.error, channel.secret, channel.url, path if len(path) > 1 else "")
    now = timezone.now()
    mine = Delivery.objects.filter(pk=delivery_id, state=State.SENDING, attempts=number)
    where = f"delivery {delivery_id} to channel {channel.pk} ({channel.destination}), attempt {number}"
    if outcome.delivered:
        mine.update(state=State.DELIVERED, delivered_at=now, last_response_code=outcome.code, last_error="")
        log.info("%s: delivered (%s)", where, outcome.code or "ok")
        return Result(State.DELIVERED)
    limit = settings.OPSDASH_WEBHOOK_MAX_ATTEMPTS
    if outcome.transient and number < limit:
        wait = backoff(number, outcome.retry_after)
        mine.update(
            state=State.PENDING,
            next_attempt_at=now + timedelta(seconds=wait),
            last_response_code=outcome.code,
            last_error=error,
        )
        log.warning("%s: %s; next attempt in %ss", where, error, wait)
        return Result(State.PENDING, retry_in=wait)
    if outcome.transient:
        error = senders.scrub(f"gave up after {number} attempts: {error}")
    mine.update(state=State.FAILED, last_response_code=outcome.code, last_error=error)
    log.warning("%s: failed: %s", where, error)
    return Result(State.FAILED)


def stalled_ids(limit: int = 500) -> list[int]:
    """Deliveries that no message will move on: never picked up, overdue for their next
    attempt, or held by a worker whose lease ran out. Sending them again is safe."""
    now = timezone.now()
    overdue = now - timedelta(seconds=STALL_GRACE_SECONDS)
    stale = now - timedelta(seconds=LEASE_SECONDS)
    stalled = Delivery.objects.filter(
        Q(state=State.PENDING, next_attempt_at__isnull=True, created_at__lt=overdue)
        | Q(state=State.PENDING, next_attempt_at__lt=overdue)
        | Q(state=State.SENDING, claimed_at__lt=stale)
    )
    return list(stalled.order_by("id").values_list("id", flat=True)[:limit])
