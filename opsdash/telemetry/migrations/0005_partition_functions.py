from django.db import migrations

# Day partitions of telemetry_event are created (ingest, the beat) and dropped (retention)
# while the application runs. Only the owner of telemetry_event may do either, and in
# production the application connects as a role that owns nothing (docs/database-roles.md).
# These two functions run with their owner's rights (SECURITY DEFINER) and do exactly one
# thing each for one day given as a date, so the application can keep its partitions
# without being able to create, alter or drop anything else. They are used whichever role
# the application connects as, so the demo and the tests, where it is the owner, take the
# same path.
#
# Hardening for definer functions: search_path is pinned to pg_catalog then pg_temp (so
# nothing a caller puts in a schema or in its temporary schema can stand in for a catalog
# function), every table name is schema-qualified and quoted with format(), the partition
# name and bounds come only from the date, and EXECUTE is revoked from PUBLIC (the grant to
# the application's role is made by `manage.py grant_app_role`).
#
# The schema is the one this migration runs in, written into the functions at creation,
# because the pinned search_path no longer finds telemetry_event unqualified.

CREATE_SQL = """
CREATE FUNCTION {schema}.telemetry_event_create_partition(day date) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  part text;
BEGIN
  IF day IS NULL THEN
    RAISE EXCEPTION 'telemetry_event_create_partition: day is null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  part := 'telemetry_event_p' || to_char(day, 'YYYYMMDD');
  IF to_regclass(format('%I.%I', {schema_literal}, part)) IS NOT NULL THEN
    RETURN false;
  END IF;
  -- Bounds as literal UTC instants: they must not depend on the caller's TimeZone or DateStyle.
  EXECUTE format(
    'CREATE TABLE %I.%I PARTITION OF %I.telemetry_event FOR VALUES FROM (%L) TO (%L)',
    {schema_literal}, part, {schema_literal},
    to_char(day, 'YYYY-MM-DD') || ' 00:00:00+00',
    to_char(day + 1, 'YYYY-MM-DD') || ' 00:00:00+00'
  );
  RETURN true;
END
$fn$;

CREATE FUNCTION {schema}.telemetry_event_drop_partition(day date) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  part text;
  rel regclass;
BEGIN
  IF day IS NULL THEN
    RAISE EXCEPTION 'telemetry_event_drop_partition: day is null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  part := 'telemetry_event_p' || to_char(day, 'YYYYMMDD');
  rel := to_regclass(format('%I.%I', {schema_literal}, part));
  IF rel IS NULL THEN
    RETURN false;
  END IF;
  -- Only ever a partition of telemetry_event: a table that merely has the name is left alone.
  IF NOT EXISTS (
    SELECT 1 FROM pg_catalog.pg_inherits i
    WHERE i.inhrelid = rel
      AND i.inhparent = format('%I.telemetry_event', {schema_literal})::regclass
  ) THEN
    RAISE EXCEPTION '% is not a partition of telemetry_event', rel USING ERRCODE = 'wrong_object_type';
  END IF;
  EXECUTE format('DROP TABLE %I.%I', {schema_literal}, part);
  RETURN true;
END
$fn$;

REVOKE ALL ON FUNCTION {schema}.telemetry_event_create_partition(date) FROM PUBLIC;
REVOKE ALL ON FUNCTION {schema}.telemetry_event_drop_partition(date) FROM PUBLIC;
"""

DROP_SQL = """
DROP FUNCTION IF EXISTS {schema}.telemetry_event_create_partition(date);
DROP FUNCTION IF EXISTS {schema}.telemetry_event_drop_partition(date);
"""


def _schema(schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT quote_ident(current_schema()), quote_literal(current_schema())")
        return cursor.fetchone()


def create_functions(apps, schema_editor):
    schema, schema_literal = _schema(schema_editor)
    # No parameters: format()'s %I and %L must reach the server as written.
    schema_editor.execute(CREATE_SQL.format(schema=schema, schema_literal=schema_literal), params=None)


def drop_functions(apps, schema_editor):
    schema, _ = _schema(schema_editor)
    schema_editor.execute(DROP_SQL.format(schema=schema), params=None)


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0004_rollup_bucket_grouping_index")]

    operations = [migrations.RunPython(create_functions, drop_functions)]
