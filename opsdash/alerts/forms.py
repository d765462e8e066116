from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator

from opsdash.alerts.models import Slo
from opsdash.tenants.models import Tenant


class SloForm(forms.ModelForm):
    tenant = forms.ModelChoiceField(
        queryset=Tenant.objects.none(),
        required=False,
        to_field_name="slug",
        empty_label="All tenants",
        help_text="One tenant's traffic on the route, or everyone's.",
    )

    class Meta:
        model = Slo
        fields = ["route", "tenant", "latency_percentile", "latency_target_ms", "error_rate_target_pct", "window_days"]
        labels = {
            "latency_percentile": "Latency percentile",
            "latency_target_ms": "Latency target (ms)",
            "error_rate_target_pct": "Error rate target (%)",
            "window_days": "Window (days)",
        }
        help_texts = {"route": "The route exactly as events report it, e.g. /chat/answer."}

    def __init__(self, *args: Any, tenant_choices: Any, allow_all_tenants: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["tenant"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = tenant_choices
        self.allow_all_tenants = allow_all_tenants
        if not allow_all_tenants:
            field.required = True
            field.empty_label = None
            field.help_text = "You manage SLOs of the tenants in your scope."
        window = self.fields["window_days"]
        assert isinstance(window, forms.IntegerField)
        days = settings.OPSDASH_EVENT_RETENTION_DAYS
        window.max_value = days
        window.validators.append(MaxValueValidator(days))
        window.widget.attrs["max"] = days
        window.help_text = f"The error budgets count over this many days (at most {days}: the data kept)."

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        route, tenant = data.get("route"), data.get("tenant")
        if route:
            clash = Slo.objects.filter(route=route, tenant=tenant)
            if self.instance.pk:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                who = f"tenant {tenant.slug}" if tenant else "all tenants"
                raise forms.ValidationError(f"There is already an SLO for {route} and {who}; edit that one.")
        return data

    def validate_unique(self) -> None:
        # clean() says it in words; the model's constraint check would repeat it.
        pass


class BudgetForm(forms.Form):
    daily_budget_usd = forms.DecimalField(
        label="Daily budget (USD)", required=False, min_value=Decimal(0), max_digits=12, decimal_places=2
    )
    monthly_budget_usd = forms.DecimalField(
        label="Monthly budget (USD)", required=False, min_value=Decimal(0), max_digits=12, decimal_places=2
    )
    hard_stop = forms.BooleanField(label="Hard stop", required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One row per tenant in a table: the inputs belong to the row's form by id.
        for field in self.fields.values():
            field.widget.attrs["form"] = f"budget-form-{self.prefix}"
