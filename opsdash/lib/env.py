"""Reading configuration from the environment.

Every reader raises ``ConfigError`` with one sentence naming the variable, the bad
value and what would be accepted, so a typo in a deployment fails at start-up
instead of silently falling back to a default.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured


class ConfigError(ImproperlyConfigured):
    pass


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "", environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return environ.get(name, default).strip()


def env_bool(name: str, default: bool = False, environ: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; use one of 1/0, true/false, yes/no, on/off.")


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    environ = os.environ if environ is None else environ
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number.") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={value} is below the minimum of {minimum}.")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}={value} is above the maximum of {maximum}.")
    return value


def env_float(
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> float:
    environ = os.environ if environ is None else environ
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number.") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name}={raw!r} is not a finite number.")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={value:g} is below the minimum of {minimum:g}.")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}={value:g} is above the maximum of {maximum:g}.")
    return value


def env_list(name: str, default: str, environ: Mapping[str, str] | None = None) -> list[str]:
    environ = os.environ if environ is None else environ
    raw = environ.get(name, default)
    items = [item.strip() for item in raw.split(",")]
    if any(item == "" for item in items) and raw.strip() != "":
        raise ConfigError(f"{name}={raw!r} has an empty entry; separate values with single commas.")
    return [item for item in items if item]


@dataclass(frozen=True)
class DatabaseURL:
    name: str
    user: str
    password: str
    host: str
    port: str
    options: dict[str, str]

    def django_settings(self) -> dict[str, object]:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": self.name,
            "USER": self.user,
            "PASSWORD": self.password,
            "HOST": self.host,
            "PORT": self.port,
            "OPTIONS": dict(self.options),
        }

    def describe(self) -> str:
        """Where the database is, without the password, for error messages."""
        where = self.host or "the default socket"
        if self.port:
            where += f":{self.port}"
        return f"database {self.name!r} on {where}"


def parse_database_url(url: str) -> DatabaseURL:
    """Parse ``postgres://user:pass@host:port/name?sslmode=require``.

    A Unix socket directory may be given as ``?host=/path`` (libpq style), which is
    how the embedded server is reached.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        shown = parts.scheme or url[:20]
        raise ConfigError(
            f"DATABASE_URL must be a Postgres URL such as postgres://user:password@host:5432/opsdash; "
            f"got scheme {shown!r} (opsdash runs on Postgres only)."
        )
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ConfigError("DATABASE_URL has no database name; end it with /<name>, e.g. .../opsdash.")
    try:
        port = str(parts.port) if parts.port else ""
    except ValueError:
        raise ConfigError(f"DATABASE_URL has an invalid port in {parts.netloc.rpartition('@')[2]!r}.") from None
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    host = unquote(parts.hostname or "") if parts.hostname else ""
    if "host" in query:
        host = query.pop("host")
    return DatabaseURL(
        name=name,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        host=host,
        port=port,
        options=query,
    )


def redact_url(url: str) -> str:
    """The URL without its user and password, for messages and logs."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=host).geturl()
