from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.validators import validate_email

from opsdash.notifications.models import DEFAULT_TRANSITIONS, TRANSITIONS, Channel, webhook_url_validator

MAX_RECIPIENTS = 50


class EmailListField(forms.CharField):
    """Addresses separated by commas, spaces or new lines."""

    widget = forms.Textarea(attrs={"rows": 3})

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [address for address in re.split(r"[\s,;]+", text) if address]

    def validate(self, value: list[str]) -> None:  # type: ignore[override]
        if self.required and not value:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        bad = []
        for address in value:
            try:
                validate_email(address)
            except forms.ValidationError:
                bad.append(address)
        if bad:
            raise forms.ValidationError(f"Not an email address: {', '.join(bad[:5])}.")
        if len(value) > MAX_RECIPIENTS:
            raise forms.ValidationError(f"At most {MAX_RECIPIENTS} recipients.")

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list | tuple) else value


class ChannelForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="e.g. 'ops Slack' or 'on-call email'.")
    kind = forms.ChoiceField(choices=Channel.Kind.choices, widget=forms.RadioSelect, initial=Channel.Kind.WEBHOOK)
    url = forms.URLField(
        label="Webhook URL",
        required=False,
        max_length=1000,
        assume_scheme="https",
        validators=[webhook_url_validator],
        error_messages={"invalid": "Enter an http:// or https:// URL."},
        help_text="http:// or https://. opsdash POSTs Slack-compatible JSON, signed with the channel's secret.",
    )
    recipients = EmailListField(
        required=False, help_text="For email channels: addresses separated by commas or new lines."
    )
    min_severity = forms.ChoiceField(
        label="Minimum severity",
        required=False,
        choices=[("", "Any severity"), *Channel.Severity.choices],
    )
    transitions = forms.MultipleChoiceField(
        label="Send when an alert is",
        choices=[(t, t.capitalize()) for t in TRANSITIONS],
        initial=DEFAULT_TRANSITIONS,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one transition to send."},
    )
    enabled = forms.BooleanField(required=False, initial=True, help_text="Disabled channels get nothing but tests.")

    def __init__(self, *args: Any, channel: Channel | None = None, **kwargs: Any) -> None:
        if channel is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": channel.name,
                    "url": channel.url,
                    "recipients": channel.recipients,
                    "min_severity": channel.min_severity,
                    "transitions": channel.transitions,
                    "enabled": channel.enabled,
                },
            )
        super().__init__(*args, **kwargs)
        self.channel = channel
        if channel is not None:
            # The kind is chosen once; only the fields of that kind are shown.
            del self.fields["kind"]
            del self.fields["recipients" if channel.kind == Channel.Kind.WEBHOOK else "url"]

    @property
    def chosen_kind(self) -> str:
        return self.channel.kind if self.channel is not None else self.cleaned_data.get("kind", "")

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if (
            self.chosen_kind == Channel.Kind.WEBHOOK
            and "url" in self.fields
            and not data.get("url")
            and "url" not in self.errors
        ):
            self.add_error("url", "A webhook channel needs a URL.")
        wants_recipients = self.chosen_kind == Channel.Kind.EMAIL and "recipients" in self.fields
        if wants_recipients and not data.get("recipients") and "recipients" not in self.errors:
            self.add_error("recipients", "An email channel needs at least one recipient.")
        return data

    def changes(self) -> dict[str, Any]:
        """The cleaned values, as keyword arguments for the services."""
        data = self.cleaned_data
        fields = ["name", "min_severity", "transitions", "enabled"]
        fields += [name for name in ("url", "recipients") if name in self.fields]
        return {name: data[name] for name in fields}
