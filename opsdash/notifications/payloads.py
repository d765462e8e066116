"""What a notice looks like on the wire: the Slack-compatible webhook body, its signature,
and the email. Pure functions of the stored notice, so every attempt sends the same body."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from opsdash.notifications.models import SEVERITIES, TRANSITIONS

SIGNATURE_HEADER = "X-Opsdash-Signature"
TIMESTAMP_HEADER = "X-Opsdash-Timestamp"
DELIVERY_HEADER = "X-Opsdash-Delivery"

_TEXT_FIELDS = {"state": 32, "transition": 32, "rule": 200, "severity": 32, "title": 300, "text": 4000, "path": 1000}
_SEVERITY_MARK = {"info": "ℹ️", "warning": "⚠️", "critical": "🚨"}


class BadNotice(ValueError):
    """A notice that cannot be sent: the message names what is wrong."""


def clean_notice(notice: Any) -> dict[str, Any]:
    """The notice reduced to the documented fields (see opsdash/alerts/signals.py), each of
    the documented type and bounded in length, so what is stored and sent is predictable."""
    if not isinstance(notice, dict):
        raise BadNotice(f"a notice is a dict, not {type(notice).__name__}")
    try:
        alert_id = int(notice.get("alert_id") or 0)
    except (TypeError, ValueError):
        raise BadNotice(f"alert_id {notice.get('alert_id')!r} is not a number") from None
    cleaned: dict[str, Any] = {"alert_id": alert_id}
    for key, limit in _TEXT_FIELDS.items():
        cleaned[key] = str(notice.get(key) or "")[:limit]
    cleaned["tenant"] = str(notice.get("tenant") or "")[:100]
    cleaned["opened_at"] = str(notice.get("opened_at") or "")[:40]
    if not cleaned["title"]:
        raise BadNotice("a notice needs a title")
    return cleaned


def absolute_link(path: str) -> str:
    """OPSDASH_BASE_URL joined with a site-relative path; anything else links to the home page
    (a notice must not turn into a link to another site)."""
    base = settings.OPSDASH_BASE_URL.rstrip("/")
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return base + "/"
    return base + path


def _mrkdwn(text: str) -> str:
    # Slack reads &, < and > as markup (links, mentions); these keep the text literal.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def headline(notice: dict[str, Any]) -> str:
    """One line: '[CRITICAL] Daily budget exceeded (acme) — opened'."""
    severity = notice.get("severity", "")
    tag = f"[{severity.upper()}] " if severity in SEVERITIES else ""
    tenant = f" ({notice['tenant']})" if notice.get("tenant") else ""
    transition = notice.get("transition", "")
    state = f" — {transition}" if transition in TRANSITIONS else ""
    return f"{tag}{notice['title']}{tenant}{state}"


def webhook_payload(notice: dict[str, Any], *, delivery_id: int, kind: str) -> dict[str, Any]:
    link = absolute_link(notice.get("path", ""))
    mark = _SEVERITY_MARK.get(notice.get("severity", ""), "")
    context = " · ".join(
        part
        for part in (
            f"*Severity:* {_mrkdwn(notice['severity'])}" if notice.get("severity") else "",
            f"*Tenant:* {_mrkdwn(notice['tenant'])}" if notice.get("tenant") else "",
            f"*Rule:* {_mrkdwn(notice['rule'])}" if notice.get("rule") else "",
            f"*{_mrkdwn(notice['transition'].capitalize())}*" if notice.get("transition") else "",
        )
        if part
    )
    blocks: list[dict[str, Any]] = [
        # Slack limits header text to 150 characters and section text to 3000.
        {"type": "header", "text": {"type": "plain_text", "text": f"{mark} {notice['title']}".strip()[:150]}},
    ]
    if notice.get("text"):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(notice["text"])[:3000]}})
    if context:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    blocks.append(
        {
            "type": "actions",
            "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open in opsdash"}, "url": link}],
        }
    )
    return {
        "text": f"{_mrkdwn(headline(notice))}\n{link}",
        "blocks": blocks,
        "opsdash": {**notice, "url": link, "delivery_id": delivery_id, "kind": kind},
    }


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """'sha256=' + hex HMAC-SHA256 of '<timestamp>.<body>' under the channel's secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def webhook_request(
    notice: dict[str, Any], *, secret: str, delivery_id: int, kind: str, now: datetime | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt; the timestamp is the attempt's own."""
    body = encode(webhook_payload(notice, delivery_id=delivery_id, kind=kind))
    timestamp = int((now or datetime.now(UTC)).timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "opsdash-notifications",
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        TIMESTAMP_HEADER: str(timestamp),
        DELIVERY_HEADER: str(delivery_id),
    }
    return body, headers


def email_message(notice: dict[str, Any]) -> tuple[str, str]:
    """(subject, body): the title as subject (one line), the text and the link as body."""
    subject = " ".join(notice["title"].split())[:200]
    lines = [notice.get("text", "").strip(), "", absolute_link(notice.get("path", ""))]
    facts = [f"{label}: {notice[key]}" for key, label in (("tenant", "Tenant"), ("rule", "Rule")) if notice.get(key)]
    if facts:
        lines += ["", *facts]
    return subject, "\n".join(lines).strip() + "\n"
