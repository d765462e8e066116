from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from opsdash.accounts.access import require_perm
from opsdash.notifications import selectors, services
from opsdash.notifications.forms import ChannelForm
from opsdash.notifications.models import Channel

MANAGE = services.MANAGE_PERMISSION
DELIVERIES_PER_PAGE = 25


def _secret_page(request: HttpRequest, channel: Channel, secret: str, *, created: bool) -> HttpResponse:
    response = render(
        request, "notifications/channel_secret.html", {"channel": channel, "secret": secret, "created": created}
    )
    # The secret is in this response only: nothing may keep a copy of the page.
    response["Cache-Control"] = "no-store"
    return response


def _apply_errors(form: ChannelForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


@require_GET
@require_perm(MANAGE)
def settings_channels(request: HttpRequest) -> HttpResponse:
    channels = selectors.channels_with_last_delivery()
    page = Paginator(channels, 50).get_page(request.GET.get("page"))
    return render(request, "notifications/settings_channels.html", {"page": page})


@require_http_methods(["GET", "POST"])
@require_perm(MANAGE)
def channel_create(request: HttpRequest) -> HttpResponse:
    form = ChannelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            channel, secret = services.create_channel(
                acting_user=request.user, kind=form.cleaned_data["kind"], request=request, **form.changes()
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            if secret:
                return _secret_page(request, channel, secret, created=True)
            messages.success(request, f"Created the channel {channel.name}.")
            return redirect("channel-detail", channel_id=channel.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "notifications/channel_form.html", {"form": form}, status=status)


def _detail_context(request: HttpRequest, channel: Channel) -> dict[str, Any]:
    page = Paginator(selectors.deliveries_of(channel), DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
    polling = any(delivery.is_live for delivery in page.object_list)
    return {"channel": channel, "page": page, "polling": polling}


@require_GET
@require_perm(MANAGE)
def channel_detail(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = selectors.channel_with_creator_or_404(channel_id)
    return render(request, "notifications/channel_detail.html", _detail_context(request, channel))


@require_GET
@require_perm(MANAGE)
def channel_deliveries(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = selectors.channel_or_404(channel_id)
    return render(request, "notifications/channel_detail.html#deliveries", _detail_context(request, channel))


@require_http_methods(["GET", "POST"])
@require_perm(MANAGE)
def channel_edit(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = selectors.channel_or_404(channel_id)
    form = ChannelForm(request.POST or None, channel=channel)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_channel(channel, acting_user=request.user, request=request, **form.changes())
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"Saved the channel {form.cleaned_data['name']}.")
            return redirect("channel-detail", channel_id=channel.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "notifications/channel_form.html", {"form": form, "channel": channel}, status=status)


@require_POST
@require_perm(MANAGE)
def channel_set_enabled(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = selectors.channel_or_404(channel_id)
    value = request.POST.get("enabled")
    if value not in ("0", "1"):
        return HttpResponseBadRequest("The form field 'enabled' must be 1 (enable) or 0 (disable).")
    channel = services.set_enabled(channel, acting_user=request.user, enabled=value == "1", request=request)
    messages.success(request, f"The channel {channel.name} is now {'enabled' if channel.enabled else 'disabled'}.")
    if request.POST.get("next") == "list":
        return redirect("settings-channels")
    return redirect("channel-detail", channel_id=channel.pk)


@require_POST
@require_perm(MANAGE)
def channel_rotate_secret(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = selectors.channel_or_404(channel_id)
    if channel.kind != Channel.Kind.WEBHOOK:
        return HttpResponseBadRequest("Only webhook channels have a signing secret.")
    secret = services.rotate_secret(channel, acting_user=request.user, request=request)
    return _secret_page(request, channel, secret, created=False)


@require_POST
@require_perm(MANAGE)
def channel_send_test(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = selectors.channel_or_404(channel_id)
    delivery = services.send_test(channel, acting_user=request.user, request=request)
    messages.success(request, f"Sent test notification #{delivery.pk}; its result appears in the delivery log.")
    return redirect("channel-detail", channel_id=channel.pk)


@require_POST
@require_perm(MANAGE)
def channel_delete(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = selectors.channel_or_404(channel_id)
    name = channel.name
    if request.POST.get("confirm", "").strip() != name:
        messages.error(request, "Type the channel's name exactly to delete it.")
        context = _detail_context(request, channel)
        return render(request, "notifications/channel_detail.html", context, status=400)
    services.delete_channel(channel, acting_user=request.user, request=request)
    messages.success(request, f"Deleted the channel {name} and its delivery log.")
    return redirect("settings-channels")
