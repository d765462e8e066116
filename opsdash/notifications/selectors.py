from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery
from django.shortcuts import get_object_or_404

from opsdash.notifications.models import Channel, Delivery


def channels_with_last_delivery() -> QuerySet[Channel]:
    """Every channel, with the state, response code and time of its latest delivery."""
    latest = Delivery.objects.filter(channel=OuterRef("pk")).order_by("-created_at", "-id")
    return (
        Channel.objects.select_related("created_by")
        .annotate(
            last_state=Subquery(latest.values("state")[:1]),
            last_code=Subquery(latest.values("last_response_code")[:1]),
            last_error=Subquery(latest.values("last_error")[:1]),
            last_at=Subquery(latest.values("created_at")[:1]),
        )
        .order_by("name")
    )


def deliveries_of(channel: Channel) -> QuerySet[Delivery]:
    return Delivery.objects.filter(channel=channel).order_by("-created_at", "-id")


def channel_or_404(channel_id: int) -> Channel:
    """Channel ``channel_id``; 404 when there is none (channels are managed by global admins
    only, so no scope narrows the lookup)."""
    return get_object_or_404(Channel, pk=channel_id)


def channel_with_creator_or_404(channel_id: int) -> Channel:
    """Channel ``channel_id`` with the user who created it, for its detail page; 404 when
    there is none."""
    return get_object_or_404(Channel.objects.select_related("created_by"), pk=channel_id)
