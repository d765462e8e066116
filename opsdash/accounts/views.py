from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from opsdash.accounts import access, selectors, services
from opsdash.accounts.access import require_perm
from opsdash.accounts.forms import CreateUserForm, ScopeFields, TokenForm


@require_GET
@require_perm("accounts.manage_users")
def settings_users(request: HttpRequest) -> HttpResponse:
    users = selectors.manageable_users(request.user)
    page = Paginator(users, 50).get_page(request.GET.get("page"))
    return render(request, "accounts/settings_users.html", {"page": page})


@require_http_methods(["GET", "POST"])
@require_perm("accounts.manage_users")
def user_create(request: HttpRequest) -> HttpResponse:
    form = CreateUserForm(request.POST or None, tenant_choices=selectors.grantable_tenants(request.user))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.create_user(
                data["username"],
                acting_user=request.user,
                role=data["role"],
                password=data["password"] or None,
                tenant_slugs=form.tenant_slugs,
                email=data["email"],
                request=request,
            )
        except ValidationError as exc:
            form.add_error("password", exc)
        except services.AccessError as exc:
            form.add_error(None, str(exc))
        else:
            link = None
            if not data["password"]:
                link = services.password_link(user, acting_user=request.user, request=request)
            response = render(request, "accounts/user_created.html", {"new_user": user, "link": link})
            response["Cache-Control"] = "no-store"  # the page shows a set-password link
            return response
    return render(request, "accounts/user_form.html", {"form": form})


@require_http_methods(["GET", "POST"])
@require_perm("accounts.manage_users")
def user_edit(request: HttpRequest, user_id: int) -> HttpResponse:
    target = access.managed_user_or_404(request.user, user_id)
    scope = services.scope_of(target)
    initial = {"role": scope.role, "tenants": list(scope.tenant_slugs)} if scope else {}
    form = ScopeFields(request.POST or None, initial=initial, tenant_choices=selectors.grantable_tenants(request.user))
    if request.method == "POST" and form.is_valid():
        try:
            reset = services.change_role(
                target,
                acting_user=request.user,
                role=form.cleaned_data["role"],
                tenant_slugs=form.tenant_slugs,
                request=request,
            )
        except services.AccessError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Saved {target.username}'s role and scope.")
            if reset:
                messages.warning(
                    request,
                    f"{target.username}'s reach grew and an admin had chosen their password: it no longer works. "
                    "Send them a set-password link.",
                )
            return redirect("settings-users")
    return render(request, "accounts/user_edit.html", {"target": target, "form": form, "scope": scope})


@require_POST
@require_perm("accounts.manage_users")
def user_set_active(request: HttpRequest, user_id: int) -> HttpResponse:
    target = access.managed_user_or_404(request.user, user_id)
    active = request.POST.get("active") == "1"
    try:
        services.set_active(target, acting_user=request.user, active=active, request=request)
    except services.AccessError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{target.username} is now {'active' if active else 'deactivated'}.")
    return redirect("user-edit", user_id=target.pk)


@require_POST
@require_perm("accounts.manage_users")
def user_password_link(request: HttpRequest, user_id: int) -> HttpResponse:
    target = access.managed_user_or_404(request.user, user_id)
    try:
        link = services.password_link(target, acting_user=request.user, request=request)
    except services.AccessError as exc:
        messages.error(request, str(exc))
        return redirect("user-edit", user_id=target.pk)
    response = render(
        request,
        "accounts/password_link.html",
        {"target": target, "link": link, "hours": settings.PASSWORD_LINK_HOURS},
    )
    response["Cache-Control"] = "no-store"
    return response


_LINK_SESSION_KEY = "opsdash_password_link"


@require_http_methods(["GET", "POST"])
def set_password(request: HttpRequest, token: str) -> HttpResponse:
    """Anyone holding a live link sets that user's password, once; the link is the credential.
    The first browser to open it owns it from then on (a nonce in its session)."""
    link = services.usable_password_link(token)
    kept = request.session.get(_LINK_SESSION_KEY, {})
    nonce = services.open_password_link(link, kept.get(link.token_hash)) if link is not None else None
    if link is None or nonce is None:
        # One answer for unknown, used, replaced, expired, deactivated and opened elsewhere.
        return render(request, "accounts/set_password.html", {"validlink": False}, status=404)
    request.session[_LINK_SESSION_KEY] = {link.token_hash: nonce}
    form = SetPasswordForm(link.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.set_password_with_link(token, form.cleaned_data["new_password1"], nonce=nonce, request=request)
        except services.AccessError as exc:
            return render(request, "accounts/set_password.html", {"validlink": False, "error": str(exc)}, status=404)
        request.session.pop(_LINK_SESSION_KEY, None)
        messages.success(request, "Your password is set. Log in with it.")
        return redirect("login")
    response = render(request, "accounts/set_password.html", {"validlink": True, "form": form})
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@require_perm("accounts.manage_tokens")
def settings_tokens(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    new_secret = None
    new_token = None
    if request.method == "POST" and form.is_valid():
        new_token, new_secret = services.create_token(
            acting_user=request.user, kind=form.cleaned_data["kind"], name=form.cleaned_data["name"], request=request
        )
        form = TokenForm()
    page = Paginator(selectors.tokens_for_settings(), 50).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "new_secret": new_secret, "new_token": new_token}
    response = render(request, "accounts/settings_tokens.html", context)
    if new_secret:
        response["Cache-Control"] = "no-store"
    return response


@require_POST
@require_perm("accounts.manage_tokens")
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = selectors.token_or_404(token_id)
    services.revoke_token(token, acting_user=request.user, request=request)
    messages.success(request, f"Revoked the {token.kind} token {token.name!r}.")
    return redirect("settings-tokens")
