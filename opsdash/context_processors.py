from __future__ import annotations

from django.http import HttpRequest

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


def navigation(request: HttpRequest) -> dict[str, object]:
    match = getattr(request, "resolver_match", None)
    return {
        "nav_items": NAVIGATION,
        "settings_nav_items": SETTINGS_NAVIGATION,
        "nav_current": match.url_name if match else "",
    }
