"""Logins, failed logins and logouts become audit events."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from opsdash.audit.services import record_event


@receiver(user_logged_in, dispatch_uid="audit-login")
def on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    record_event("login.success", actor=user, target=user, request=request)


@receiver(user_logged_out, dispatch_uid="audit-logout")
def on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        record_event("logout", actor=user, target=user, request=request)


@receiver(user_login_failed, dispatch_uid="audit-login-failed")
def on_login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    # The password is never recorded; the username only as typed (it may not exist).
    username = str(credentials.get("username", ""))[:150]
    user = get_user_model().objects.filter(username=username).first()
    record_event(
        "login.failure",
        actor_label=f"anonymous ({username})" if username else "anonymous",
        target=user,
        request=request,
        detail={"username": username},
    )
