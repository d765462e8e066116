from django.contrib.auth import views as auth_views
from django.urls import path

from opsdash.accounts import views

urlpatterns = [
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="accounts/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/set-password/<str:token>/", views.set_password, name="set-password"),
    path("settings/users/", views.settings_users, name="settings-users"),
    path("settings/users/new/", views.user_create, name="user-create"),
    path("settings/users/<int:user_id>/", views.user_edit, name="user-edit"),
    path("settings/users/<int:user_id>/active/", views.user_set_active, name="user-set-active"),
    path("settings/users/<int:user_id>/password-link/", views.user_password_link, name="user-password-link"),
    path("settings/tokens/", views.settings_tokens, name="settings-tokens"),
    path("settings/tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
]
