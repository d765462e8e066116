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
    path("settings/users/", views.settings_users, name="settings-users"),
    path("settings/tokens/", views.settings_tokens, name="settings-tokens"),
]
