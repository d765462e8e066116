"""The action registry: what each action needs, previews, and does.

An action declares the permission it needs on the tenant, its parameters form,
``preview()`` (a dry run that counts what it will touch), and ``run()``, which the
worker calls with a RunContext and which works in batches through ``ctx.batch()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django import forms

from opsdash.actions.context import RunContext
from opsdash.actions.models import ActionRun
from opsdash.tenants.models import Tenant


@dataclass(frozen=True)
class Preview:
    summary: str  # one sentence with the numbers, shown before confirming and kept on the run
    counts: dict[str, Any] = field(default_factory=dict)
    total: int | None = None  # units of progress the run will report

    def as_dict(self) -> dict[str, Any]:
        return {"summary": self.summary, "counts": self.counts, "total": self.total}


class ActionForm(forms.Form):
    """Parameters of an action. ``parameters()`` gives the JSON kept on the run."""

    def __init__(self, *args: Any, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tenant = tenant

    def parameters(self) -> dict[str, Any]:
        return {
            name: (value.isoformat() if hasattr(value, "isoformat") else value)
            for name, value in self.cleaned_data.items()
        }


class Action:
    kind: str = ""
    label: str = ""  # the button on the tenant page
    description: str = ""
    permission: str = "tenants.operate_tenant"
    # Destructive actions are confirmed by typing the tenant's slug.
    destructive: bool = False
    form_class: type[ActionForm] = ActionForm

    def unavailable(self, tenant: Tenant) -> str | None:
        """Why the action cannot be requested for ``tenant`` now; None when it can."""
        return None

    def preview(self, tenant: Tenant, parameters: dict[str, Any]) -> Preview:
        raise NotImplementedError

    def prepare(self, run: ActionRun) -> str | None:
        """Called once when the run is created; may fill ``run.internal`` and return a
        secret to show the requester once (never stored)."""
        return None

    def run(self, ctx: RunContext) -> dict[str, Any]:
        """Do the work in batches; returns the receipt (counts, never content)."""
        raise NotImplementedError

    def cleanup(self, ctx: RunContext) -> None:
        """After a failure or a cancellation: undo what must not linger half-done."""

    def describe_parameters(self, parameters: dict[str, Any]) -> list[tuple[str, str]]:
        form = self.form_class(tenant=None)  # type: ignore[arg-type]
        rows = []
        for name, value in parameters.items():
            label = form.fields[name].label if name in form.fields else name
            rows.append((str(label or name), "—" if value in (None, "") else str(value)))
        return rows


_REGISTRY: dict[str, Action] = {}


def register[A: type[Action]](cls: A) -> A:
    if not cls.kind or cls.kind in _REGISTRY:
        raise ValueError(f"action kind {cls.kind!r} is empty or registered twice")
    _REGISTRY[cls.kind] = cls()
    return cls


def register_all(classes: tuple[type[Action], ...]) -> None:
    for cls in classes:
        register(cls)


def get(kind: str) -> Action | None:
    return _REGISTRY.get(kind)


def all_actions() -> list[Action]:
    return list(_REGISTRY.values())
