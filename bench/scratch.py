"""Scratch databases for the benchmarks, on DATABASE_URL's server or the embedded one."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def base_url() -> str:
    """A URL of the server to bench on: DATABASE_URL, else the embedded Postgres."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    from opsdash.lib import embedded_db

    data_dir = Path(os.environ.get("OPSDASH_DATA_DIR", ROOT / ".opsdash")).resolve()
    return f"postgresql://postgres@/postgres?host={embedded_db.ensure_database(data_dir)}"


def with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def recreate_database(url: str, name: str) -> str:
    """Drop and create database ``name`` on the server of ``url``; returns its URL."""
    import psycopg

    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(url, name)


def drop_database(url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_django(url: str, allowed_hosts: str = "testserver") -> None:
    """Point this process's Django at ``url`` (with bench keys where none are set), set it up
    and migrate: for benchmarks that request pages in-process with the test client."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("OPSDASH_SECRET_KEY", "bench-secret-key-0123456789-0123456789-0123456789")
    os.environ.setdefault("OPSDASH_AUDIT_KEY", "bench-audit-key-0123456789-0123456789-0123456789")
    os.environ.setdefault("OPSDASH_HTTPS", "0")
    os.environ["OPSDASH_ALLOWED_HOSTS"] = allowed_hosts
    os.environ["OPSDASH_STATIC_FROM_FINDERS"] = "1"
    os.environ["DJANGO_SETTINGS_MODULE"] = "opsdash.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
