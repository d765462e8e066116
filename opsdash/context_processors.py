from __future__ import annotations

from django.http import HttpRequest

from opsdash.accounts import access

# (url name, label) in the order the navigation shows them.
NAVIGATION = [
    ("overview", "Overview"),
    ("alerts", "Alerts"),
    ("latency", "Latency"),
    ("cost", "Cost"),
    ("evals", "Evals"),
    ("safety", "Safety"),
    ("tenants", "Tenants"),
    ("actions", "Actions"),
    ("audit", "Audit"),
]
SETTINGS_NAVIGATION = [
    ("settings-users", "Users"),
    ("settings-tokens", "Tokens"),
    ("settings-slos", "SLOs"),
    ("settings-budgets", "Budgets"),
    ("settings-channels", "Channels"),
]


# What each settings page asks of the user (the permission its view requires): the menu
# offers only the pages the user may open, never a link that answers 403.
SETTINGS_PERMS = {
    "settings-users": "accounts.manage_users",
    "settings-tokens": "accounts.manage_tokens",
    "settings-slos": "alerts.manage_settings",
    "settings-budgets": "alerts.manage_settings",
    "settings-channels": "notifications.manage_channels",
}


def navigation(request: HttpRequest) -> dict[str, object]:
    match = getattr(request, "resolver_match", None)
    user = getattr(request, "user", None)
    settings_items = (
        [(name, label) for name, label in SETTINGS_NAVIGATION if access.has_perm(user, SETTINGS_PERMS[name])]
        if user is not None and user.is_authenticated
        else []
    )
    return {
        "nav_items": NAVIGATION,
        "settings_nav_items": settings_items,
        "nav_current": match.url_name if match else "",
    }
