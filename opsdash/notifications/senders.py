"""Sending one attempt: an HTTP POST to a webhook, or an email through Django's mail backend.

Each returns an Outcome saying whether it arrived, and if not whether trying again may
help: 5xx, 429, time-outs and connection errors may; other 4xx, redirects and refused
recipients will not.
"""

from __future__ import annotations

import http.client
import re
import smtplib
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.core.mail import send_mail

ERROR_LENGTH = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
RETRY_AFTER_CAP = 3600


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    transient: bool = False
    code: int | None = None
    error: str = ""
    retry_after: int | None = None  # seconds the receiver asked us to wait


def scrub(text: str, *secrets: str) -> str:
    """One line, bounded, with no secret (nor a webhook URL, whose path may be one) in it."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "…")
    return _CONTROL.sub(" ", text).strip()[:ERROR_LENGTH]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirected POST would arrive as a GET without its body, or at another host with
    # the signature: a moved receiver is reported instead of followed.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _retry_after(headers: Message | None) -> int | None:
    value = headers.get("Retry-After", "") if headers is not None else ""
    if value and value.strip().isdigit():
        return min(int(value.strip()), RETRY_AFTER_CAP)
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | SoftTimeLimitExceeded):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "host not found"
    return f"{type(exc).__name__}: {exc}"


def post_webhook(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> Outcome:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - http(s) only, validated
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(4096)
            code = response.status
    except urllib.error.HTTPError as exc:
        code = exc.code
        try:
            detail = exc.read(200).decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            detail = ""
        finally:
            exc.close()
        error = f"HTTP {code} {exc.reason}" + (f": {detail}" if detail.strip() else "")
        if 300 <= code < 400:
            where = exc.headers.get("Location", "") if exc.headers is not None else ""
            return Outcome(
                False,
                code=code,
                error=f"HTTP {code}: the receiver moved{' to ' + where if where else ''}; update the URL",
            )
        transient = code >= 500 or code == 429
        return Outcome(False, transient=transient, code=code, error=error, retry_after=_retry_after(exc.headers))
    except urllib.error.URLError as exc:
        reason = exc.reason if isinstance(exc.reason, BaseException) else None
        return Outcome(False, transient=True, error=_reason(reason) if reason else f"could not connect: {exc.reason}")
    except (OSError, http.client.HTTPException, SoftTimeLimitExceeded) as exc:
        return Outcome(False, transient=True, error=_reason(exc))
    if 200 <= code < 300:
        return Outcome(True, code=code)
    return Outcome(False, code=code, error=f"HTTP {code}: not a success")


def send_email(subject: str, body: str, recipients: list[str]) -> Outcome:
    try:
        send_mail(subject, body, None, recipients)
    except smtplib.SMTPRecipientsRefused as exc:
        return Outcome(False, error=f"every recipient was refused ({', '.join(sorted(exc.recipients))})")
    except smtplib.SMTPResponseException as exc:
        message = (
            exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        )
        # SMTP's own rule: 4xx replies are temporary, 5xx permanent.
        return Outcome(
            False, transient=exc.smtp_code < 500, code=exc.smtp_code, error=f"SMTP {exc.smtp_code} {message}"
        )
    except (smtplib.SMTPException, OSError, SoftTimeLimitExceeded) as exc:
        return Outcome(False, transient=True, error=_reason(exc))
    return Outcome(True)
