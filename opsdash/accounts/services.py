"""Writes about users and roles. Each takes the acting user keyword-only."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from opsdash.accounts.models import ApiToken, Role, RoleAssignment
from opsdash.lib.hashing import issue_secret
from opsdash.tenants.models import Tenant


@transaction.atomic
def create_user(
    username: str,
    *,
    acting_user: Any,
    role: str,
    password: str | None,
    tenant_slugs: Iterable[str] = (),
    email: str = "",
) -> Any:
    User = get_user_model()
    role = Role(role)
    slugs = sorted(set(tenant_slugs))
    tenants = list(Tenant.objects.filter(slug__in=slugs))
    missing = sorted(set(slugs) - {t.slug for t in tenants})
    if missing:
        raise ValueError(f"unknown tenant(s): {', '.join(missing)}")
    user = User(username=username, email=email)
    if password is not None:
        validate_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    assignment = RoleAssignment.objects.create(user=user, role=role)
    if tenants:
        assignment.tenants.set(tenants)
    return user


@transaction.atomic
def create_token(*, acting_user: Any, kind: str, name: str) -> tuple[ApiToken, str]:
    """Create a token; the secret is returned once and only its hash is kept."""
    kind = ApiToken.Kind(kind)
    issued = issue_secret(f"od{kind.value[0]}")
    token = ApiToken.objects.create(
        kind=kind,
        name=name,
        prefix=issued.prefix,
        secret_hash=issued.secret_hash,
        created_by=acting_user if getattr(acting_user, "pk", None) else None,
    )
    return token, issued.secret
