"""Alert transitions become deliveries (connected in NotificationsConfig.ready)."""

from __future__ import annotations

import logging
from typing import Any

from opsdash.notifications import services
from opsdash.notifications.payloads import BadNotice

log = logging.getLogger(__name__)


def on_alert_changed(sender: Any, notice: Any = None, **kwargs: Any) -> list[int]:
    """Dispatch the notice to every enabled channel that wants it.

    The alerts area sends this on commit of a transition; a failure here must not undo or
    break alerting, so it is logged instead of raised."""
    try:
        return services.dispatch(notice)
    except BadNotice as exc:
        log.error("alert notice not dispatched: %s", exc)
    except Exception:  # notifying must never break the alert that triggered it
        log.exception("alert notice not dispatched")
    return []
