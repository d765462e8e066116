"""One-sentence explanations for the failures people meet when starting opsdash."""

from __future__ import annotations

import errno
import socket

from django.conf import settings


def database_unreachable_message(exc: BaseException) -> str:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if settings.EMBEDDED_DATABASE:
        hint = "the embedded Postgres is not answering; run `make db-stop` and start again, or `make db-reset`."
    else:
        hint = "check DATABASE_URL and that the server is running and accepts connections."
    return f"opsdash: cannot reach the {settings.DATABASE_DESCRIPTION} ({first_line}); {hint}"


def port_in_use_message(host: str, port: int) -> str | None:
    """None when host:port can be bound, otherwise the sentence to print."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"opsdash: port {port} on {host} is already in use (another opsdash or server?); "
                    f"stop it, or start on another port with `make demo PORT={port + 1}`."
                )
            return f"opsdash: cannot listen on {host}:{port} ({exc.strerror})."
    return None
