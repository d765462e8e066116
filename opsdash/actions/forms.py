from __future__ import annotations

import re
from typing import Any

from django import forms
from django.conf import settings

from opsdash.actions.registry import ActionForm
from opsdash.knowledge.embedders import DEFAULT_EMBEDDER, EMBEDDERS, unavailable_reason

_HEX = re.compile(r"^[0-9a-f]{8,64}$")


class ReasonForm(ActionForm):
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Recorded in the audit trail and shown wherever the tenant appears.",
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Give a reason.")
        return reason


class RotateKeysForm(ActionForm):
    grace_hours = forms.IntegerField(
        label="Grace period (hours)",
        min_value=0,
        max_value=24 * 30,
        help_text="The current keys keep working this long; 0 revokes them at once.",
    )
    name = forms.CharField(label="Name of the new key", max_length=100, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["grace_hours"].initial = settings.KEY_ROTATION_GRACE_HOURS


class PurgeForm(ActionForm):
    before = forms.DateField(
        label="Older than",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Only conversations whose last message is before this day (UTC). Empty: all.",
    )
    user_hash = forms.CharField(
        label="User hash",
        max_length=64,
        required=False,
        help_text="Only the conversations of this end user (the hash shown on conversations).",
    )

    def clean_user_hash(self) -> str:
        value = self.cleaned_data["user_hash"].strip().lower()
        if value and not _HEX.match(value):
            raise forms.ValidationError("A user hash is 8 to 64 hexadecimal characters.")
        return value


class ReembedForm(ActionForm):
    embedder = forms.ChoiceField(
        choices=[(key, label) for key, (label, _) in EMBEDDERS.items()],
        initial=DEFAULT_EMBEDDER,
    )

    def clean_embedder(self) -> str:
        key = self.cleaned_data["embedder"]
        reason = unavailable_reason(key)
        if reason:
            raise forms.ValidationError(reason)
        return key


class ConfirmForm(forms.Form):
    """The second step: the idempotency key from the preview, and the typed slug when destructive."""

    idempotency_key = forms.CharField(max_length=64, min_length=16, widget=forms.HiddenInput)
    confirm_slug = forms.CharField(label="Type the tenant's slug to confirm", max_length=63, required=False)

    def __init__(self, *args: Any, tenant: Any, destructive: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        self.destructive = destructive
        if not destructive:
            del self.fields["confirm_slug"]

    def clean_confirm_slug(self) -> str:
        typed = self.cleaned_data.get("confirm_slug", "").strip()
        if typed != self.tenant.slug:
            raise forms.ValidationError(f"Type {self.tenant.slug} exactly to confirm.")
        return typed
