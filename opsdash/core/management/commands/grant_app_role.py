"""Give the application's database role exactly what the running application needs.

Run by the role that owns the schema (the one that ran `migrate`), after every `migrate`:

    manage.py migrate
    manage.py grant_app_role opsdash_app [--create] [--password-env OPSDASH_APP_DB_PASSWORD]

See docs/database-roles.md for the two roles and why the split matters.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from psycopg import sql

from opsdash.audit.models import AuditEvent

# Tables the application may only read and append to. The audit chain is evidence: the
# role that serves requests must not be able to edit, delete or empty it, whatever a bug or
# a stolen credential tries (the trigger of audit 0002 refuses UPDATE and DELETE for
# everyone; without these privileges the server refuses them before any trigger runs).
APPEND_ONLY = (AuditEvent._meta.db_table,)
# Written only by `migrate`; the application reads it (for example to report unapplied
# migrations) but has no business recording that one ran.
READ_ONLY = ("django_migrations",)

TABLE_RIGHTS = "SELECT, INSERT, UPDATE, DELETE"
APPEND_RIGHTS = "SELECT, INSERT"
# TRUNCATE empties a table past row triggers; TRIGGER would let the role attach code to a
# table; REFERENCES lets it pin rows of a table with a foreign key of its own. The
# application uses none of them.
NEVER_ON_TABLES = "TRUNCATE, TRIGGER, REFERENCES"
# The record_event() id comes from nextval() on the audit sequence; identity and serial
# defaults need the same. UPDATE (setval) is not needed.
SEQUENCE_RIGHTS = "USAGE, SELECT"
# TEMPORARY: the rollup fold builds temporary tables (telemetry/rollups.py). CREATE on the
# database would let the role create schemas, which it would own.
DATABASE_RIGHTS = "CONNECT, TEMPORARY"


@dataclass
class Plan:
    role: str
    owner: str
    database: str
    schema: str
    tables: list[str] = field(default_factory=list)
    sequences: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)


def _q(name: str) -> str:
    """A quoted identifier (server-side quote_ident would need a round trip per name)."""
    return '"' + name.replace('"', '""') + '"'


class Command(BaseCommand):
    help = (
        "Grant ROLE what the running application needs on this database and schema and nothing "
        "that lets it own or alter objects; the audit table only SELECT and INSERT. Run by the "
        "owner role after every migrate; safe to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("role", help="the role the application connects as (it must own nothing)")
        parser.add_argument(
            "--create",
            action="store_true",
            help="create ROLE (LOGIN, no other attributes) when it does not exist yet",
        )
        parser.add_argument(
            "--password-env",
            metavar="VARIABLE",
            help="set ROLE's login password from this environment variable (on every run, so changing "
            "the variable rotates the password); it is hashed here and never sent in clear text",
        )

    def handle(self, *args: object, **options: Any) -> None:
        role = str(options["role"])
        verbosity = int(options.get("verbosity", 1))
        password = self._password(options.get("password_env"))
        with transaction.atomic(), connection.cursor() as cursor:
            created = bool(options["create"]) and self._create(cursor, role)
            plan = self._plan(cursor, role)
            self._refuse_unsafe(cursor, plan)
            revoked_from_public = self._grant(cursor, plan)
            if password is not None:
                self._set_password(cursor, role, password)
            self._verify(cursor, plan)
        if created:
            self.stdout.write(f"created role {role} (LOGIN)")
        self._report(plan, revoked_from_public, password is not None, verbosity)

    # --- reading the database -----------------------------------------------------------

    def _password(self, variable: object) -> str | None:
        if not variable:
            return None
        value = os.environ.get(str(variable), "")
        if not value:
            raise CommandError(f"--password-env {variable}: the variable is not set or empty.")
        return value

    def _create(self, cursor: Any, role: str) -> bool:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is not None:
            return False
        cursor.execute(f"CREATE ROLE {_q(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS")
        return True

    def _plan(self, cursor: Any, role: str) -> Plan:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is None:
            raise CommandError(f"role {role!r} does not exist; create it first (or pass --create).")
        audit = APPEND_ONLY[0]
        cursor.execute(
            "SELECT n.nspname, pg_get_userbyid(c.relowner), current_database() "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s)",
            [audit],
        )
        row = cursor.fetchone()
        if row is None:
            raise CommandError(f"table {audit} not found in the search path; run `manage.py migrate` first.")
        schema, owner, database = row
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        is_super = cursor.fetchone()[0]
        cursor.execute("SELECT pg_has_role(current_user, %s, 'USAGE')", [owner])
        if not (is_super or cursor.fetchone()[0]):
            raise CommandError(
                f"the tables belong to {owner}; run this command as that role (the one that ran migrate)."
            )
        plan = Plan(role=role, owner=owner, database=database, schema=schema)
        # The owner's own objects only: extension members (pgvector's functions, say) are the
        # extension's business, and partitions are covered through their parent anyway but
        # are included so that naming one directly behaves like the parent.
        cursor.execute(
            """
            SELECT c.relname, c.relkind FROM pg_class c
            WHERE c.relnamespace = %s::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
              AND pg_get_userbyid(c.relowner) = %s
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                              AND d.objid = c.oid AND d.deptype = 'e')
            ORDER BY c.relname
            """,
            [_q(schema), owner],
        )
        for name, kind in cursor.fetchall():
            (plan.sequences if kind == "S" else plan.tables).append(name)
        # Trigger functions are left out: a trigger runs its function whoever fires it, and
        # nobody calls one directly.
        cursor.execute(
            """
            SELECT p.oid::regprocedure::text FROM pg_proc p
            WHERE p.pronamespace = %s::regnamespace AND pg_get_userbyid(p.proowner) = %s
              AND p.prorettype <> 'trigger'::regtype AND p.prokind IN ('f', 'a', 'w')
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                              AND d.objid = p.oid AND d.deptype = 'e')
            ORDER BY 1
            """,
            [_q(schema), owner],
        )
        plan.functions = [row[0] for row in cursor.fetchall()]
        return plan

    def _refuse_unsafe(self, cursor: Any, plan: Plan) -> None:
        role = plan.role
        cursor.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls "
            "FROM pg_roles WHERE rolname = %s",
            [role],
        )
        superuser, createrole, createdb, replication, bypassrls = cursor.fetchone()
        if superuser:
            raise CommandError(
                f"refusing: {role} is a superuser, which bypasses every privilege this command would set "
                "(including the audit table's). Use a plain LOGIN role that owns nothing."
            )
        attributes = [
            name
            for name, value in (
                ("CREATEROLE", createrole),
                ("CREATEDB", createdb),
                ("REPLICATION", replication),
                ("BYPASSRLS", bypassrls),
            )
            if value
        ]
        if attributes:
            undo = " ".join(f"NO{a}" for a in attributes)
            raise CommandError(
                f"refusing: {role} has {', '.join(attributes)}, which lets it create or take over objects "
                f"this command cannot restrict. Run ALTER ROLE {role} {undo}; then run this again."
            )
        if role == plan.owner:
            raise CommandError(f"refusing: {role} owns the application's tables; the app role must own nothing.")
        # pg_shdepend records the owner of every object in every database of the cluster
        # (and of databases and tablespaces themselves).
        cursor.execute(
            """
            SELECT CASE WHEN s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                          OR s.dbid = 0
                        THEN pg_describe_object(s.classid, s.objid, s.objsubid)
                        ELSE 'an object in database ' || coalesce(d.datname, s.dbid::text) END
            FROM pg_shdepend s LEFT JOIN pg_database d ON d.oid = s.dbid
            WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = %s::regrole AND s.deptype = 'o'
            ORDER BY 1 LIMIT 6
            """,
            [_q(role)],
        )
        owned = [row[0] for row in cursor.fetchall()]
        if owned:
            listed = ", ".join(owned[:5]) + (", ..." if len(owned) > 5 else "")
            raise CommandError(
                f"refusing: {role} owns objects ({listed}). An owner can alter, drop or re-grant what it owns, "
                "so the application role must own nothing: REASSIGN OWNED BY it to the owner role first."
            )
        # Membership brings the other role's privileges (and, for an owner, its ownership);
        # none is needed by the application, and any would undo what is set here.
        cursor.execute(
            "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
            "WHERE m.member = %s::regrole ORDER BY 1",
            [_q(role)],
        )
        groups = [row[0] for row in cursor.fetchall()]
        if groups:
            raise CommandError(
                f"refusing: {role} is a member of {', '.join(groups)}; their privileges would come on top of "
                f"the ones set here. Revoke the membership (REVOKE {groups[0]} FROM {role}) and run this again."
            )

    # --- granting -----------------------------------------------------------------------

    def _grant(self, cursor: Any, plan: Plan) -> list[str]:
        role, schema, owner = _q(plan.role), _q(plan.schema), _q(plan.owner)
        statements = [
            f"GRANT {DATABASE_RIGHTS} ON DATABASE {_q(plan.database)} TO {role}",
            f"REVOKE CREATE ON DATABASE {_q(plan.database)} FROM {role}",
            f"GRANT USAGE ON SCHEMA {schema} TO {role}",
            f"REVOKE CREATE ON SCHEMA {schema} FROM {role}",
        ]
        for table in plan.tables:
            target = f"{schema}.{_q(table)}"
            statements.append(f"REVOKE {NEVER_ON_TABLES} ON {target} FROM {role}")
            if table in APPEND_ONLY:
                statements.append(f"GRANT {APPEND_RIGHTS} ON {target} TO {role}")
                statements.append(f"REVOKE UPDATE, DELETE ON {target} FROM {role}")
                # Nobody but the owner edits the chain, whatever was granted to everyone.
                statements.append(f"REVOKE UPDATE, DELETE, {NEVER_ON_TABLES} ON {target} FROM PUBLIC")
            elif table in READ_ONLY:
                statements.append(f"GRANT SELECT ON {target} TO {role}")
                statements.append(f"REVOKE INSERT, UPDATE, DELETE ON {target} FROM {role}")
            else:
                statements.append(f"GRANT {TABLE_RIGHTS} ON {target} TO {role}")
        for sequence in plan.sequences:
            target = f"{schema}.{_q(sequence)}"
            statements.append(f"GRANT {SEQUENCE_RIGHTS} ON SEQUENCE {target} TO {role}")
            statements.append(f"REVOKE UPDATE ON SEQUENCE {target} FROM {role}")
        for function in plan.functions:
            statements.append(f"GRANT EXECUTE ON ROUTINE {function} TO {role}")
        # Objects the owner creates later in this schema (a migration's new table, a day
        # partition made by telemetry_event_create_partition) are usable at once; the next
        # run of this command after `migrate` narrows any new append-only table again.
        default = f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema}"
        statements += [
            f"{default} GRANT {TABLE_RIGHTS} ON TABLES TO {role}",
            f"{default} GRANT {SEQUENCE_RIGHTS} ON SEQUENCES TO {role}",
            f"{default} GRANT EXECUTE ON ROUTINES TO {role}",
        ]
        for statement in statements:
            cursor.execute(statement)
        # PUBLIC's rights count for every role. Postgres 15 and later give PUBLIC no CREATE on
        # the public schema, and no version gives it CREATE on a database; a server upgraded
        # from an older version, or set up by hand, may still have either.
        revoked = []
        cursor.execute(
            "SELECT has_schema_privilege(%s, %s, 'CREATE'), has_database_privilege(%s, current_database(), 'CREATE')",
            [plan.role, plan.schema, plan.role],
        )
        schema_create, database_create = cursor.fetchone()
        if schema_create:
            cursor.execute(f"REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC")
            revoked.append(f"CREATE on schema {plan.schema}")
        if database_create:
            cursor.execute(f"REVOKE CREATE ON DATABASE {_q(plan.database)} FROM PUBLIC")
            revoked.append(f"CREATE on database {plan.database}")
        return revoked

    def _set_password(self, cursor: Any, role: str, password: str) -> None:
        # Hashed by libpq on this side (SCRAM-SHA-256): the clear text never reaches the
        # server, so it cannot end up in its statement log.
        raw = connection.connection
        verifier = raw.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
        # A literal, not a parameter: utility statements take no server-side parameters.
        cursor.execute(f"ALTER ROLE {_q(role)} WITH LOGIN PASSWORD {sql.Literal(verifier).as_string(raw)}")

    def _verify(self, cursor: Any, plan: Plan) -> None:
        """Ask the server what the role can do now, counting PUBLIC and any grantor."""
        role = plan.role
        problems = []
        cursor.execute(
            "SELECT has_database_privilege(%s, current_database(), 'CREATE'), has_schema_privilege(%s, %s, 'CREATE')",
            [role, role, plan.schema],
        )
        database_create, schema_create = cursor.fetchone()
        if database_create:
            problems.append(f"CREATE on database {plan.database}")
        if schema_create:
            problems.append(f"CREATE on schema {plan.schema}")
        for table in APPEND_ONLY:
            target = f"{_q(plan.schema)}.{_q(table)}"
            for right in ("UPDATE", "DELETE", "TRUNCATE", "TRIGGER", "REFERENCES"):
                cursor.execute("SELECT has_table_privilege(%s, %s, %s)", [role, target, right])
                if cursor.fetchone()[0]:
                    problems.append(f"{right} on {table}")
            for right in ("SELECT", "INSERT"):
                cursor.execute("SELECT has_table_privilege(%s, %s, %s)", [role, target, right])
                if not cursor.fetchone()[0]:
                    problems.append(f"no {right} on {table}")
        if problems:
            raise CommandError(
                f"{role} still has: {'; '.join(problems)} (granted by another role or to a group it inherits "
                "from); revoke those as their grantor, then run this again. Nothing was changed."
            )

    # --- output -------------------------------------------------------------------------

    def _report(self, plan: Plan, revoked_from_public: list[str], password_set: bool, verbosity: int) -> None:
        full = [t for t in plan.tables if t not in APPEND_ONLY and t not in READ_ONLY]
        lines = [
            f"grant_app_role: {plan.role} on database {plan.database}, schema {plan.schema} "
            f"(objects owned by {plan.owner})",
            f"  database {plan.database}: {DATABASE_RIGHTS}; CREATE revoked",
            f"  schema {plan.schema}: USAGE; CREATE revoked",
            f"  {TABLE_RIGHTS} on {len(full)} tables; {NEVER_ON_TABLES} revoked on all tables",
        ]
        for table in APPEND_ONLY:
            lines.append(f"  {table}: {APPEND_RIGHTS} only (append-only; UPDATE, DELETE, TRUNCATE revoked)")
        for table in READ_ONLY:
            if table in plan.tables:
                lines.append(f"  {table}: SELECT only")
        lines.append(f"  {SEQUENCE_RIGHTS} on {len(plan.sequences)} sequences")
        lines.append(f"  EXECUTE on {len(plan.functions)} functions: {', '.join(plan.functions) or 'none'}")
        lines.append(
            f"  default privileges: tables, sequences and functions {plan.owner} creates later in "
            f"{plan.schema} get the same rights"
        )
        for item in revoked_from_public:
            lines.append(f"  revoked from PUBLIC: {item}")
        if password_set:
            lines.append(f"  password of {plan.role} set")
        lines.append(f"  checked: {plan.role} is no superuser, owns nothing and cannot change the audit table")
        self.stdout.write("\n".join(lines))
        if verbosity > 1:
            self.stdout.write("  tables: " + ", ".join(full))
            self.stdout.write("  sequences: " + ", ".join(plan.sequences))
