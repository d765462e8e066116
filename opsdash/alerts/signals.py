"""What the alerts area tells the rest of opsdash, so that notifying does not depend on it.

``alert_changed`` is sent on commit of every alert transition with one keyword argument,
``notice``: a dict with these keys (all str unless said):
    alert_id (int), state ("open" | "acknowledged" | "resolved"), transition
    ("opened" | "acknowledged" | "resolved" | "reopened"), rule (e.g. "budget.daily",
    "slo.burn_fast"), severity ("info" | "warning" | "critical"), title (one line),
    text (a few lines, plain), path (site-relative link to the page that shows the cause),
    tenant (slug or ""), opened_at (ISO 8601 UTC).
"""

from django.dispatch import Signal

alert_changed = Signal()
