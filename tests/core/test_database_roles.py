"""The application's database role, against the real server: `grant_app_role` gives a role
that owns nothing what the running app needs, the audit table stays append-only for it, and
the app's run-time DDL (day partitions) works through the owner's definer functions.

Roles are cluster-wide, so each test makes its own uniquely named role and drops it after.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator
from io import StringIO

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections
from psycopg import sql as pgsql

from opsdash.audit.models import AuditEvent
from opsdash.audit.services import record_event
from opsdash.ingest.events import ingest_events
from opsdash.telemetry import partitions, rollups, tasks
from opsdash.tenants.models import Tenant
from tests.telemetry.factories import make_event, rfc3339

AUDIT = AuditEvent._meta.db_table


def owner_sql(sql: str, params: list[object] | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def unique_role(prefix: str = "opsdash_test_app") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def drop_role(role: str) -> None:
    """Undo everything a test gave the role in this database, then the role itself."""
    exists = owner_sql("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    if not exists:
        return
    quoted = pgsql.Identifier(role).as_string(None)
    with connection.cursor() as cursor:
        # Sessions of the role (a test that failed half-way) would keep it alive.
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid()",
            [role],
        )
        cursor.execute(f"REASSIGN OWNED BY {quoted} TO CURRENT_USER")
        # Privileges and default privileges here, and on the database (a shared object).
        cursor.execute(f"DROP OWNED BY {quoted}")
        cursor.execute(f"DROP ROLE {quoted}")


@pytest.fixture
def can_create_roles(transactional_db) -> None:
    row = owner_sql("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user")
    if not row or not row[0][0]:
        pytest.skip("the test database's user may not create roles (needs CREATEROLE or superuser)")


@pytest.fixture
def make_role(can_create_roles) -> Iterator:
    made: list[str] = []

    def make(attributes: str = "LOGIN", prefix: str = "opsdash_test_app") -> str:
        role = unique_role(prefix)
        made.append(role)
        owner_sql(f'CREATE ROLE "{role}" {attributes}')
        return role

    yield make
    for role in made:
        drop_role(role)


@pytest.fixture
def app_role(make_role) -> str:
    return make_role()


def grant(role: str, *args: str) -> str:
    out = StringIO()
    call_command("grant_app_role", role, *args, stdout=out)
    return out.getvalue()


@contextlib.contextmanager
def psycopg_as(role: str) -> Iterator[psycopg.Connection]:
    """A plain connection to the test database as ``role`` (the servers here trust local users)."""
    db = connection.settings_dict
    conn = psycopg.connect(
        host=db["HOST"] or None, port=db["PORT"] or None, dbname=db["NAME"], user=role, autocommit=True
    )
    try:
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def django_as(role: str) -> Iterator[None]:
    """Run opsdash's own code (ORM, raw cursors, COPY) connected as ``role``."""
    original = connections["default"]
    wrapper = original.__class__({**original.settings_dict, "USER": role, "PASSWORD": ""}, "default")
    connections["default"] = wrapper
    try:
        yield
    finally:
        wrapper.close()
        connections["default"] = original


def refused(conn: psycopg.Connection, sql: str, params: list[object] | None = None) -> str:
    """The message of the privilege error ``sql`` must raise."""
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
        conn.execute(sql, params)
    return str(caught.value)


def test_the_app_role_may_append_to_the_audit_table_and_never_change_it(app_role):
    output = grant(app_role)
    assert f"{AUDIT}: SELECT, INSERT only" in output
    with django_as(app_role):
        event = record_event("roles.check", actor_label="roles-test", detail={"why": "append as the app"})
    assert AuditEvent.objects.filter(pk=event.pk, action="roles.check").exists()

    with psycopg_as(app_role) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == app_role
        # The same steps record_event takes: the chain lock, the id from the sequence, an INSERT.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [0x0A0D17])
        new_id = conn.execute(f"SELECT nextval(pg_get_serial_sequence('{AUDIT}', 'id'))").fetchone()[0]
        assert new_id > event.pk
        assert conn.execute(f"SELECT count(*) FROM {AUDIT} WHERE id = %s", [event.pk]).fetchone()[0] == 1

        # Refused by privileges, before the append-only triggers get a say: WHERE false
        # touches no row, so no row trigger could be what refuses it.
        for sql in (
            f"UPDATE {AUDIT} SET action = 'edited' WHERE false",
            f"UPDATE {AUDIT} SET action = 'edited' WHERE id = {event.pk}",
            f"DELETE FROM {AUDIT} WHERE false",
            f"DELETE FROM {AUDIT} WHERE id = {event.pk}",
            f"TRUNCATE {AUDIT}",
            f"TRUNCATE {AUDIT} CASCADE",
        ):
            assert f"permission denied for table {AUDIT}" in refused(conn, sql), sql
        assert "must be owner" in refused(conn, f"ALTER TABLE {AUDIT} DISABLE TRIGGER ALL")
        assert "must be owner" in refused(conn, f"ALTER TABLE {AUDIT} OWNER TO {app_role}")
    assert AuditEvent.objects.get(pk=event.pk).action == "roles.check"


def test_the_app_role_may_not_create_alter_or_drop_anything(app_role):
    grant(app_role)
    with psycopg_as(app_role) as conn:
        # Everything the app does to ordinary tables still works.
        conn.execute("SELECT count(*) FROM tenants_tenant").fetchone()
        conn.execute("UPDATE tenants_tenant SET name = name WHERE false")
        conn.execute("DELETE FROM django_session WHERE false")
        # The rollup fold's temporary tables, and the settings it changes for a transaction.
        with conn.transaction():
            conn.execute("CREATE TEMP TABLE roles_check ON COMMIT DROP AS SELECT 1 AS one")
            conn.execute("SET LOCAL work_mem = '64MB'")

        for sql in (
            "CREATE TABLE roles_probe (id int)",
            "CREATE VIEW roles_probe AS SELECT 1",
            "CREATE SEQUENCE roles_probe",
            "CREATE FUNCTION roles_probe() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            "CREATE SCHEMA roles_probe",
            "CREATE INDEX roles_probe ON tenants_tenant (name)",
            "ALTER TABLE tenants_tenant ADD COLUMN roles_probe int",
            "ALTER TABLE telemetry_event DETACH PARTITION telemetry_event_p20000101",
            "DROP TABLE tenants_tenant",
            "DROP TABLE telemetry_event",
            "DROP FUNCTION telemetry_event_create_partition(date)",
            "CREATE TRIGGER roles_probe BEFORE INSERT ON tenants_tenant "
            "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
            "TRUNCATE tenants_tenant",
            "INSERT INTO django_migrations (app, name, applied) VALUES ('x', 'y', now())",
            "SELECT setval(pg_get_serial_sequence('tenants_tenant', 'id'), 1)",
            "CREATE TABLE telemetry_event_p20000101 PARTITION OF telemetry_event "
            "FOR VALUES FROM ('2000-01-01 00:00+00') TO ('2000-01-02 00:00+00')",
        ):
            refused(conn, sql)
    owned = owner_sql("SELECT count(*) FROM pg_shdepend WHERE refobjid = %s::regrole AND deptype = 'o'", [app_role])
    assert owned == [(0,)]


def test_the_app_role_keeps_its_day_partitions_through_the_definer_functions(app_role, settings):
    grant(app_role)
    Tenant.objects.create(slug="acme", name="Acme Corp")
    now = dt.datetime.now(dt.UTC)
    day = (now - dt.timedelta(days=5)).date()
    owner_sql("SELECT telemetry_event_drop_partition(%s)", [day])
    partitions.forget_known()
    try:
        with django_as(app_role):
            assert day not in partitions.existing_days()
            noon = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
            assert ingest_events([make_event(ts=rfc3339(noon))]).accepted == 1
            assert day in partitions.existing_days()
            assert rollups.refresh_rollups() >= 1  # temporary tables and the fold's locks
            result = tasks.maintain_storage()
            assert now.date() + dt.timedelta(days=7) in partitions.existing_days()
            assert partitions.partition_name(day) not in result["dropped"]

            settings.OPSDASH_EVENT_RETENTION_DAYS = 3
            dropped = partitions.drop_expired(now)
            assert partitions.partition_name(day) in dropped
            assert day not in partitions.existing_days()
        # Made by the function, so owned by the owner of telemetry_event, not by the app.
        owners = owner_sql(
            "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'telemetry_event'::regclass"
        )
        assert app_role not in {row[0] for row in owners}
    finally:
        partitions.forget_known()


def test_the_drop_function_drops_only_partitions_of_the_event_table(app_role):
    grant(app_role)
    impostor = "telemetry_event_p19990101"
    owner_sql(f"CREATE TABLE {impostor} (id int)")
    try:
        with psycopg_as(app_role) as conn:
            with pytest.raises(psycopg.errors.WrongObjectType):
                conn.execute("SELECT telemetry_event_drop_partition('1999-01-01')")
            assert conn.execute("SELECT telemetry_event_drop_partition('1998-01-01')").fetchone()[0] is False
        assert owner_sql("SELECT to_regclass(%s) IS NOT NULL", [impostor]) == [(True,)]
    finally:
        owner_sql(f"DROP TABLE IF EXISTS {impostor}")


def test_other_roles_may_not_call_the_definer_functions(make_role):
    stranger = make_role()
    owner_sql(f'GRANT CONNECT ON DATABASE "{connection.settings_dict["NAME"]}" TO "{stranger}"')
    with psycopg_as(stranger) as conn:
        refused(conn, "SELECT telemetry_event_create_partition('2001-01-01')")
        refused(conn, "SELECT telemetry_event_drop_partition('2001-01-01')")


def test_it_is_idempotent_and_covers_tables_the_owner_creates_later(app_role):
    first = grant(app_role)
    assert grant(app_role) == first
    table = f"roles_later_{uuid.uuid4().hex[:8]}"
    owner_sql(f"CREATE TABLE {table} (id bigint GENERATED ALWAYS AS IDENTITY, note text)")
    try:
        with psycopg_as(app_role) as conn:
            conn.execute(f"INSERT INTO {table} (note) VALUES ('x')")
            conn.execute(f"UPDATE {table} SET note = 'y'")
            assert conn.execute(f"SELECT note FROM {table}").fetchone()[0] == "y"
            conn.execute(f"DELETE FROM {table}")
            refused(conn, f"TRUNCATE {table}")
            refused(conn, f"DROP TABLE {table}")
    finally:
        owner_sql(f"DROP TABLE IF EXISTS {table}")


def test_it_refuses_a_superuser(make_role):
    if not owner_sql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")[0][0]:
        pytest.skip("only a superuser may create a superuser role to refuse")
    superuser = make_role("LOGIN SUPERUSER")
    with pytest.raises(CommandError, match=f"refusing: {superuser} is a superuser"):
        grant(superuser)
    assert owner_sql("SELECT has_table_privilege(%s, %s, 'SELECT')", [superuser, AUDIT]) == [(True,)]
    # Nothing was granted to it by name either.
    assert owner_sql("SELECT count(*) FROM pg_shdepend WHERE refobjid = %s::regrole", [superuser]) == [(0,)]


def test_it_refuses_a_role_that_owns_an_object(app_role):
    table = f"roles_owned_{uuid.uuid4().hex[:8]}"
    owner_sql(f"CREATE TABLE {table} (id int)")
    owner_sql(f'ALTER TABLE {table} OWNER TO "{app_role}"')
    with pytest.raises(CommandError, match=f"refusing: {app_role} owns objects \\(table {table}\\)"):
        grant(app_role)


def test_it_refuses_a_member_of_another_role_and_roles_with_powers(make_role):
    group, member = make_role("NOLOGIN"), make_role()
    owner_sql(f'GRANT "{group}" TO "{member}"')
    with pytest.raises(CommandError, match=f"refusing: {member} is a member of {group}"):
        grant(member)
    creator = make_role("LOGIN CREATEROLE")
    with pytest.raises(CommandError, match=f"refusing: {creator} has CREATEROLE"):
        grant(creator)


def test_it_creates_the_role_with_a_hashed_password(can_create_roles, monkeypatch):
    role = unique_role()
    monkeypatch.setenv("ROLES_TEST_PASSWORD", "app-password-for-this-test")
    try:
        output = grant(role, "--create", "--password-env", "ROLES_TEST_PASSWORD")
        assert f"created role {role}" in output
        assert f"password of {role} set" in output
        row = owner_sql(
            "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolpassword FROM pg_authid WHERE rolname = %s",
            [role],
        )
        login, superuser, createrole, createdb, password = row[0]
        assert (login, superuser, createrole, createdb) == (True, False, False, False)
        assert password.startswith("SCRAM-SHA-256$")
        assert "app-password-for-this-test" not in password
        assert "created role" not in grant(role, "--create")

        monkeypatch.setenv("ROLES_TEST_PASSWORD", "")
        with pytest.raises(CommandError, match="ROLES_TEST_PASSWORD: the variable is not set or empty"):
            grant(role, "--password-env", "ROLES_TEST_PASSWORD")
    finally:
        drop_role(role)


def test_it_names_a_missing_role(can_create_roles):
    with pytest.raises(CommandError, match="does not exist; create it first"):
        grant(unique_role())


def test_it_changes_nothing_when_another_grantor_left_the_role_a_way_to_edit_the_audit_table(app_role, make_role):
    other = make_role()
    owner_sql(f'GRANT CONNECT ON DATABASE "{connection.settings_dict["NAME"]}" TO "{other}"')
    owner_sql(f'GRANT UPDATE ON {AUDIT} TO "{other}" WITH GRANT OPTION')
    with psycopg_as(other) as conn:
        conn.execute(f'GRANT UPDATE ON {AUDIT} TO "{app_role}"')
    with pytest.raises(CommandError, match=f"{app_role} still has: UPDATE on {AUDIT}.*Nothing was changed"):
        grant(app_role)
    assert owner_sql("SELECT has_table_privilege(%s, 'tenants_tenant', 'SELECT')", [app_role]) == [(False,)]
    owner_sql(f'REVOKE UPDATE ON {AUDIT} FROM "{other}" CASCADE')
    assert f"{AUDIT}: SELECT, INSERT only" in grant(app_role)
