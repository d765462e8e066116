from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from opsdash.accounts.models import ApiToken, Role
from opsdash.accounts.services import AccessError, validate_username
from opsdash.tenants.models import Tenant


class ScopeFields(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
    tenants = forms.ModelMultipleChoiceField(
        queryset=Tenant.objects.none(),
        required=False,
        to_field_name="slug",
        help_text="Leave empty for every tenant.",
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, tenant_choices: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["tenants"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = tenant_choices if tenant_choices is not None else Tenant.objects.all()

    @property
    def tenant_slugs(self) -> list[str]:
        return [t.slug for t in self.cleaned_data.get("tenants") or []]


class CreateUserForm(ScopeFields):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to get a one-time link with which the user sets a password.",
    )
    field_order = ["username", "email", "role", "tenants", "password"]

    def clean_username(self) -> str:
        try:
            username = validate_username(self.cleaned_data["username"])
        except AccessError as exc:
            raise forms.ValidationError(str(exc)) from None
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("A user with this name already exists.")
        return username


class TokenForm(forms.Form):
    kind = forms.ChoiceField(choices=ApiToken.Kind.choices)
    name = forms.CharField(max_length=100, help_text="Who uses it, e.g. 'gateway eu-west' or 'eval CI'.")
