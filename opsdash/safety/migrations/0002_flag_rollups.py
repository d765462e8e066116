from django.db import migrations

# Flags per hour and per UTC day, by tenant, kind and severity, with how many are still
# open: the safety charts, the top tenants and the open-flag tiles read these, not every
# flag (at 100,000 flags in 30 days, counting the flags took 50-90 ms a query). Kept by
# statement triggers on the flags table, so every way flags are written, resolved or
# removed keeps them right; a change is an increment, so concurrent writers never lose one.
GRAINS = {"safety_flag_hour": "1 hour", "safety_flag_day": "1 day"}
KEY = "bucket, tenant_id, kind, severity"

TABLES_SQL = "\n".join(
    f"""CREATE TABLE {table} (
    bucket timestamptz NOT NULL,
    tenant_id bigint NOT NULL,
    kind varchar(50) NOT NULL,
    severity varchar(16) NOT NULL,
    flags integer NOT NULL,
    open_flags integer NOT NULL,
    PRIMARY KEY ({KEY})
);"""
    for table in GRAINS
)


def _apply(changes: str) -> str:
    """Add ``changes`` (flag rows with a ``sign`` column, +1 or -1) to both tables."""
    statements = []
    for table, width in GRAINS.items():
        statements.append(f"""
    INSERT INTO {table} AS r ({KEY}, flags, open_flags)
    SELECT date_bin('{width}', ts, timestamptz '2000-01-01 00:00:00+00'), tenant_id, kind, severity,
           sum(sign), coalesce(sum(sign) FILTER (WHERE resolved_at IS NULL), 0)
    FROM ({changes}) c
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT ({KEY}) DO UPDATE SET flags = r.flags + excluded.flags, open_flags = r.open_flags + excluded.open_flags;""")
    return "".join(statements)


COLUMNS = "ts, tenant_id, kind, severity, resolved_at"
CHANGES = {
    "INSERT": ("REFERENCING NEW TABLE AS added", f"SELECT {COLUMNS}, 1 AS sign FROM added"),
    "DELETE": ("REFERENCING OLD TABLE AS removed", f"SELECT {COLUMNS}, -1 AS sign FROM removed"),
    "UPDATE": (
        "REFERENCING OLD TABLE AS removed NEW TABLE AS added",
        f"SELECT {COLUMNS}, -1 AS sign FROM removed UNION ALL SELECT {COLUMNS}, 1 AS sign FROM added",
    ),
}

TRIGGERS_SQL = "".join(
    f"""
CREATE FUNCTION safety_flag_rollup_{op.lower()}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN{_apply(changes)}
    RETURN NULL;
END $$;
CREATE TRIGGER safety_flag_rollup_{op.lower()} AFTER {op} ON safety_safetyflag
    {referencing} FOR EACH STATEMENT EXECUTE FUNCTION safety_flag_rollup_{op.lower()}();
"""
    for op, (referencing, changes) in CHANGES.items()
) + """
CREATE FUNCTION safety_flag_rollup_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE safety_flag_hour, safety_flag_day;
    RETURN NULL;
END $$;
CREATE TRIGGER safety_flag_rollup_truncate AFTER TRUNCATE ON safety_safetyflag
    FOR EACH STATEMENT EXECUTE FUNCTION safety_flag_rollup_truncate();
"""

BACKFILL_SQL = _apply(f"SELECT {COLUMNS}, 1 AS sign FROM safety_safetyflag")

REVERSE_SQL = "".join(
    f"DROP TRIGGER IF EXISTS safety_flag_rollup_{op} ON safety_safetyflag;\n"
    f"DROP FUNCTION IF EXISTS safety_flag_rollup_{op}();\n"
    for op in ("insert", "delete", "update", "truncate")
) + "DROP TABLE IF EXISTS safety_flag_hour, safety_flag_day;"


class Migration(migrations.Migration):
    dependencies = [("safety", "0001_initial")]

    operations = [migrations.RunSQL(TABLES_SQL + TRIGGERS_SQL + BACKFILL_SQL, REVERSE_SQL)]
