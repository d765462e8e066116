from __future__ import annotations

from datetime import UTC
from typing import Any

from django import forms
from django.db.models import QuerySet

from opsdash.audit.models import AuditEvent


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150, label="Actor")
    action = forms.ChoiceField(required=False, label="Event")
    tenant = forms.ChoiceField(required=False, label="Tenant")
    since = forms.DateField(required=False, label="From (UTC)", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="Until (UTC)", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, tenants: QuerySet[Any], actions: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        action_field = self.fields["action"]
        tenant_field = self.fields["tenant"]
        assert isinstance(action_field, forms.ChoiceField)
        assert isinstance(tenant_field, forms.ChoiceField)
        action_field.choices = [("", "any"), *[(a, a) for a in actions]]
        tenant_field.choices = [("", "any"), *[(t.slug, t.slug) for t in tenants]]
        self._tenant_ids = {t.slug: t.pk for t in tenants}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("'From' is after 'Until'.")
        return data

    def apply(self, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        from datetime import datetime, time, timedelta

        data = self.cleaned_data
        if data.get("actor"):
            events = events.filter(actor_label__icontains=data["actor"])
        if data.get("action"):
            events = events.filter(action=data["action"])
        if data.get("tenant"):
            # Every event that touches the tenant, not only those filed under it.
            events = events.filter(tenant_ids__contains=[self._tenant_ids[data["tenant"]]])
        if data.get("since"):
            events = events.filter(ts__gte=datetime.combine(data["since"], time.min, tzinfo=UTC))
        if data.get("until"):
            events = events.filter(ts__lt=datetime.combine(data["until"] + timedelta(days=1), time.min, tzinfo=UTC))
        return events
