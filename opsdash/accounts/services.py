"""Writes about users, roles and tokens. Each takes the acting user keyword-only, runs
in one transaction and writes its audit event in that same transaction."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import ASCIIUsernameValidator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from opsdash.accounts import access, selectors
from opsdash.accounts.models import (
    ROLE_RANK,
    ApiToken,
    KnownPassword,
    PasswordLink,
    Role,
    RoleAssignment,
    ScopeHistory,
)
from opsdash.audit.services import record_event
from opsdash.lib.hashing import hash_secret, issue_secret, secret_matches
from opsdash.tenants.models import Tenant


class AccessError(Exception):
    """A change refused by a guard rail; the message is shown to the person as is."""


@dataclass(frozen=True)
class Scope:
    role: str
    tenant_slugs: tuple[str, ...]  # empty = all tenants

    def describe(self) -> dict[str, Any]:
        return {"role": self.role, "tenants": list(self.tenant_slugs) or "all"}


def scope_of(user: Any) -> Scope | None:
    try:
        assignment = user.role_assignment
    except RoleAssignment.DoesNotExist:
        return None
    return Scope(assignment.role, tuple(sorted(assignment.tenants.values_list("slug", flat=True))))


def _resolve_tenants(slugs: Iterable[str]) -> list[Tenant]:
    wanted = sorted(set(slugs))
    tenants = list(Tenant.objects.filter(slug__in=wanted).order_by("slug"))
    missing = sorted(set(wanted) - {t.slug for t in tenants})
    if missing:
        raise AccessError(f"Unknown tenant(s): {', '.join(missing)}.")
    return tenants


def validate_username(username: str) -> str:
    """ASCII letters, digits and @ . + - _, at most 150 characters: no markup, no spreadsheet
    formula, and no look-alike of another name in another script (a Cyrillic "а" in "аlice").
    Returns the name stripped."""
    username = username.strip()
    if not username:
        raise AccessError("A username is required.")
    if len(username) > 150:
        raise AccessError("A username has at most 150 characters.")
    try:
        ASCIIUsernameValidator()(username)
    except ValidationError as exc:
        raise AccessError(" ".join(exc.messages)) from None
    if username[0] in "+-@.":
        # Allowed by Django, but a name starting so is read as a formula by spreadsheets.
        raise AccessError("A username must start with a letter, a digit or an underscore.")
    return username


def _remember_scope(user: Any, tenants: Iterable[Tenant]) -> None:
    """Add the scope to the user's ScopeHistory (no tenants: every tenant)."""
    chosen: list[Tenant | None] = list(tenants)
    for tenant in chosen or [None]:
        ScopeHistory.objects.get_or_create(user=user, tenant=tenant)


def _reach(user: Any) -> dict[str, Any]:
    """record_event's arguments naming every tenant an event about ``user`` touches."""
    tenant_ids, is_global = selectors.reach_of(user)
    return {"tenants": tenant_ids, "all_tenants": is_global}


def _check_grant(acting_user: Any, role: str, tenants: list[Tenant]) -> None:
    if acting_user is None:  # the command line runs with the machine owner's authority
        return
    ids = frozenset(t.pk for t in tenants) or None
    reason = access.may_grant(acting_user, role, ids)
    if reason:
        raise AccessError(reason)


def _active_global_admins_excluding(user: Any) -> int:
    return (
        RoleAssignment.objects.filter(role=Role.ADMIN, user__is_active=True, tenants__isnull=True)
        .exclude(user=user)
        .count()
    )


def _is_active_global_admin(user: Any) -> bool:
    scope = scope_of(user)
    return bool(user.is_active and scope and scope.role == Role.ADMIN and not scope.tenant_slugs)


@transaction.atomic
def create_user(
    username: str,
    *,
    acting_user: Any,
    role: str,
    password: str | None,
    tenant_slugs: Iterable[str] = (),
    email: str = "",
    request: HttpRequest | None = None,
) -> Any:
    User = get_user_model()
    role = Role(role)
    username = validate_username(username)
    if User.objects.filter(username__iexact=username).exists():
        raise AccessError(f"A user named {username!r} already exists.")
    tenants = _resolve_tenants(tenant_slugs)
    _check_grant(acting_user, role, tenants)
    user = User(username=username, email=email)
    if password is not None:
        validate_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    if password is not None and getattr(acting_user, "pk", None):
        KnownPassword.objects.create(user=user, known_to=acting_user)
    assignment = RoleAssignment.objects.create(user=user, role=role)
    if tenants:
        assignment.tenants.set(tenants)
    _remember_scope(user, tenants)
    scope = Scope(role, tuple(t.slug for t in tenants))
    record_event(
        "user.create",
        actor=acting_user,
        target=user,
        request=request,
        after=scope.describe(),
        tenant=tenants[0] if len(tenants) == 1 else None,
        **_reach(user),
    )
    return user


@transaction.atomic
def change_role(
    user: Any,
    *,
    acting_user: Any,
    role: str,
    tenant_slugs: Iterable[str] = (),
    request: HttpRequest | None = None,
) -> bool:
    """Give ``user`` ``role`` over ``tenant_slugs`` (none: every tenant). Returns whether the
    user's password was reset because their reach widened (see _drop_credentials_others_know)."""
    role = Role(role)
    tenants = _resolve_tenants(tenant_slugs)
    before = scope_of(user)
    after = Scope(role, tuple(t.slug for t in tenants))
    if acting_user is not None and user.pk == acting_user.pk:
        own = access.access_of(acting_user)
        new_ids = frozenset(t.pk for t in tenants) or None
        if ROLE_RANK[role] > own.rank:
            raise AccessError("You cannot raise your own role.")
        if own.tenant_ids is not None and (new_ids is None or not new_ids <= own.tenant_ids):
            raise AccessError("You cannot widen your own scope.")
    elif acting_user is not None and not access.may_manage_user(acting_user, user):
        raise AccessError("This user's access is wider than yours.")
    _check_grant(acting_user, role, tenants)
    if before == after:
        return False
    reach_before = selectors.reach_of(user)
    demoting_global_admin = _is_active_global_admin(user) and (role != Role.ADMIN or bool(tenants))
    if demoting_global_admin and _active_global_admins_excluding(user) == 0:
        raise AccessError("This is the last active admin with access to every tenant; make another one first.")
    # The scope before the change is remembered too: an assignment made outside these
    # services (or before the history existed) still counts as reach the user once had.
    if before is not None:
        _remember_scope(user, _resolve_tenants(before.tenant_slugs))
    assignment, _ = RoleAssignment.objects.get_or_create(user=user, defaults={"role": role})
    assignment.role = role
    assignment.save(update_fields=["role", "updated_at"])
    assignment.tenants.set(tenants)
    _remember_scope(user, tenants)
    access.forget(user)
    reset = _widened(reach_before, selectors.reach_of(user)) and _drop_credentials_others_know(user)
    record_event(
        "user.role_change",
        actor=acting_user,
        target=user,
        request=request,
        before=before.describe() if before else None,
        after=after.describe(),
        tenant=tenants[0] if len(tenants) == 1 else None,
        detail={"password_reset": True} if reset else {},
        **_reach(user),
    )
    return reset


def _widened(before: tuple[frozenset[int], bool], after: tuple[frozenset[int], bool]) -> bool:
    """Whether the reach ``after`` holds a tenant (or every tenant) that ``before`` did not."""
    (before_ids, before_global), (after_ids, after_global) = before, after
    if before_global:
        return False
    return after_global or not after_ids <= before_ids


def _drop_credentials_others_know(user: Any) -> bool:
    """The user's reach just widened: whoever issued a link or chose the password (perhaps an
    admin whose scope does not cover the new reach) must not follow the user there. Open links
    are revoked and sessions end; a password an admin chose stops working. Returns whether the
    password was reset (the user then needs a new set-password link)."""
    _revoke_password_links(user)
    _end_sessions(user)
    known = KnownPassword.objects.filter(user=user).first()
    if known is None:
        return False
    known.delete()
    user.set_unusable_password()
    user.save(update_fields=["password"])
    return True


@transaction.atomic
def set_active(user: Any, *, acting_user: Any, active: bool, request: HttpRequest | None = None) -> None:
    if acting_user is not None and not access.may_manage_user(acting_user, user):
        raise AccessError("This user's access is wider than yours.")
    if user.is_active == active:
        return
    if not active:
        if acting_user is not None and user.pk == acting_user.pk:
            raise AccessError("You cannot deactivate yourself.")
        if _is_active_global_admin(user) and _active_global_admins_excluding(user) == 0:
            raise AccessError("This is the last active admin with access to every tenant; it cannot be deactivated.")
    user.is_active = active
    user.save(update_fields=["is_active"])
    if not active:
        # Existing sessions end at their next request: the auth backend refuses inactive
        # users; deleting the sessions as well ends them at once.
        _end_sessions(user)
        _revoke_password_links(user)
    record_event(
        "user.reactivate" if active else "user.deactivate",
        actor=acting_user,
        target=user,
        request=request,
        before={"active": not active},
        after={"active": active},
        **_reach(user),
    )


def _end_sessions(user: Any) -> None:
    from django.contrib.sessions.models import Session

    now = timezone.now()
    doomed = [
        session.pk
        for session in Session.objects.filter(expire_date__gt=now).iterator()
        if session.get_decoded().get("_auth_user_id") == str(user.pk)
    ]
    Session.objects.filter(pk__in=doomed).delete()


def _revoke_password_links(user: Any) -> int:
    return PasswordLink.objects.filter(user=user, used_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


@transaction.atomic
def password_link(user: Any, *, acting_user: Any, request: HttpRequest) -> str:
    """A link with which ``user`` sets a new password: single use, valid for
    PASSWORD_LINK_HOURS, and it replaces any earlier link. Only its hash is stored, and the
    old password keeps working until the new one is set."""
    if acting_user is not None and not access.may_manage_user(acting_user, user):
        raise AccessError("This user's access is wider than yours.")
    if not user.is_active:
        raise AccessError(f"{user.get_username()} is deactivated; reactivate the account before sending a link.")
    _revoke_password_links(user)
    token = secrets.token_urlsafe(32)
    link = PasswordLink.objects.create(
        user=user,
        token_hash=hash_secret(token),
        created_by=acting_user if getattr(acting_user, "pk", None) else None,
        expires_at=timezone.now() + timedelta(hours=settings.PASSWORD_LINK_HOURS),
    )
    record_event(
        "user.password_link",
        actor=acting_user,
        target=user,
        request=request,
        detail={"expires_at": link.expires_at.isoformat()},
        **_reach(user),
    )
    return request.build_absolute_uri(reverse("set-password", kwargs={"token": token}))


def usable_password_link(token: str) -> PasswordLink | None:
    """The link behind ``token`` if it can still set a password, else None (unknown, used,
    replaced, expired, or its user is deactivated)."""
    link = selectors.live_password_link(hash_secret(token))
    if link is None or link.used_at or link.revoked_at or link.expires_at <= timezone.now():
        return None
    if not link.user.is_active:
        return None
    # The admin who issued it must still be able to manage the user: a link a scoped admin
    # obtained before the user's reach grew is no way into that reach.
    issuer = link.created_by
    if issuer is not None and (not issuer.is_active or not access.may_manage_user(issuer, link.user)):
        return None
    return link


def open_password_link(link: PasswordLink, nonce: str | None) -> str | None:
    """Bind an unopened link to the browser opening it; returns the nonce that browser keeps
    (None when another browser opened the link first)."""
    if link.opened_by:
        return nonce if nonce and secret_matches(nonce, link.opened_by) else None
    nonce = secrets.token_urlsafe(24)
    claimed = PasswordLink.objects.filter(pk=link.pk, opened_by="").update(opened_by=hash_secret(nonce))
    return nonce if claimed else None


@transaction.atomic
def set_password_with_link(
    token: str, password: str, *, nonce: str | None = None, request: HttpRequest | None = None
) -> Any:
    """Set the password of the link's user and spend the link; AccessError when the link can
    no longer be used, or was opened by another browser (``nonce`` is what the browser that
    opened it keeps). The caller validated ``password`` with Django's validators."""
    link = usable_password_link(token)
    if link is not None:
        # Two submissions of one link at once: only the first finds it unused.
        link = PasswordLink.objects.select_for_update().filter(pk=link.pk, used_at__isnull=True).first()
    if link is not None and link.opened_by and not (nonce and secret_matches(nonce, link.opened_by)):
        link = None
    if link is None or link.revoked_at is not None:
        raise AccessError(
            "This link is no longer valid: it was used, replaced or has expired. Ask an admin for a new one."
        )
    user = link.user
    user.set_password(password)
    user.save(update_fields=["password"])
    KnownPassword.objects.filter(user=user).delete()  # the user chose this one
    link.used_at = timezone.now()
    link.save(update_fields=["used_at"])
    _end_sessions(user)
    record_event(
        "user.password_set",
        actor_label=user.get_username(),
        target=user,
        request=request,
        detail={"link_issued_at": link.created_at.isoformat()},
        **_reach(user),
    )
    return user


@transaction.atomic
def create_token(*, acting_user: Any, kind: str, name: str, request: HttpRequest | None = None) -> tuple[ApiToken, str]:
    """Create a token; the secret is returned once and only its hash is kept."""
    kind = ApiToken.Kind(kind)
    name = name.strip()
    if not name:
        raise AccessError("A token needs a name.")
    issued = issue_secret(f"od{kind.value[0]}")
    token = ApiToken.objects.create(
        kind=kind,
        name=name[:100],
        prefix=issued.prefix,
        secret_hash=issued.secret_hash,
        created_by=acting_user if getattr(acting_user, "pk", None) else None,
    )
    record_event("token.create", actor=acting_user, target=token, request=request, after={"kind": kind.value})
    return token, issued.secret


@transaction.atomic
def revoke_token(token: ApiToken, *, acting_user: Any, request: HttpRequest | None = None) -> None:
    if token.revoked_at is not None:
        return
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    record_event("token.revoke", actor=acting_user, target=token, request=request)
