from django.db import migrations, models

KEY = "prompt_id, prompt_version, run_id, suite, model, metric"

TABLE_SQL = f"""
CREATE TABLE evals_evalrunmetric (
    prompt_id varchar(200) NOT NULL,
    prompt_version varchar(100) NOT NULL,
    run_id varchar(128) NOT NULL,
    suite varchar(200) NOT NULL,
    model varchar(200) NOT NULL,
    metric varchar(100) NOT NULL,
    first_ts timestamptz NOT NULL,
    last_ts timestamptz NOT NULL,
    results integer NOT NULL,
    failures integer NOT NULL,
    PRIMARY KEY ({KEY})
);
-- The pages ask for the runs with results in a window.
CREATE INDEX evals_evalrunmetric_last_ts ON evals_evalrunmetric (last_ts);
CREATE INDEX evals_evalrunmetric_run_id ON evals_evalrunmetric (run_id);
"""


def _sums(source: str) -> str:
    return f"""SELECT {KEY}, min(ts), max(ts), count(*), count(*) FILTER (WHERE NOT passed)
        FROM {source} GROUP BY {KEY}"""


# Inserted results are added to their rows (each result is inserted once: the unique key on
# run, case and metric turns a retried upload into no new rows, so nothing counts twice).
# Deleted results: the rows they touched are added up again from what is left. Rows are
# written in key order so concurrent uploads to one run cannot deadlock.
TRIGGERS_SQL = f"""
CREATE FUNCTION evals_runmetric_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO evals_evalrunmetric AS m ({KEY}, first_ts, last_ts, results, failures)
    SELECT * FROM ({_sums("added")}) s ORDER BY {KEY}
    ON CONFLICT ({KEY}) DO UPDATE SET
        first_ts = least(m.first_ts, excluded.first_ts),
        last_ts = greatest(m.last_ts, excluded.last_ts),
        results = m.results + excluded.results,
        failures = m.failures + excluded.failures;
    RETURN NULL;
END $$;

CREATE FUNCTION evals_runmetric_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM evals_evalrunmetric m USING (SELECT DISTINCT {KEY} FROM removed) r
    WHERE (m.prompt_id, m.prompt_version, m.run_id, m.suite, m.model, m.metric)
        = (r.prompt_id, r.prompt_version, r.run_id, r.suite, r.model, r.metric);
    INSERT INTO evals_evalrunmetric ({KEY}, first_ts, last_ts, results, failures)
    {_sums("evals_evalresult e WHERE (e.run_id) IN (SELECT run_id FROM removed)")}
    ON CONFLICT ({KEY}) DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER evals_runmetric_added AFTER INSERT ON evals_evalresult
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION evals_runmetric_added();
CREATE TRIGGER evals_runmetric_removed AFTER DELETE ON evals_evalresult
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION evals_runmetric_removed();
CREATE FUNCTION evals_runmetric_emptied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE evals_evalrunmetric;
    RETURN NULL;
END $$;
CREATE TRIGGER evals_runmetric_emptied AFTER TRUNCATE ON evals_evalresult
    FOR EACH STATEMENT EXECUTE FUNCTION evals_runmetric_emptied();
"""

BACKFILL_SQL = f"""
INSERT INTO evals_evalrunmetric ({KEY}, first_ts, last_ts, results, failures)
{_sums("evals_evalresult")};
"""

REVERSE_SQL = """
DROP TRIGGER IF EXISTS evals_runmetric_added ON evals_evalresult;
DROP TRIGGER IF EXISTS evals_runmetric_removed ON evals_evalresult;
DROP TRIGGER IF EXISTS evals_runmetric_emptied ON evals_evalresult;
DROP FUNCTION IF EXISTS evals_runmetric_added();
DROP FUNCTION IF EXISTS evals_runmetric_removed();
DROP FUNCTION IF EXISTS evals_runmetric_emptied();
DROP TABLE IF EXISTS evals_evalrunmetric;
"""


class Migration(migrations.Migration):
    dependencies = [("evals", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(TABLE_SQL + TRIGGERS_SQL + BACKFILL_SQL, REVERSE_SQL)],
            state_operations=[
                migrations.CreateModel(
                    name="EvalRunMetric",
                    fields=[
                        ("pk", models.CompositePrimaryKey(
                            "prompt_id", "prompt_version", "run_id", "suite", "model", "metric",
                            blank=True, editable=False, primary_key=True, serialize=False,
                        )),
                        ("prompt_id", models.CharField(max_length=200)),
                        ("prompt_version", models.CharField(max_length=100)),
                        ("run_id", models.CharField(max_length=128)),
                        ("suite", models.CharField(max_length=200)),
                        ("model", models.CharField(max_length=200)),
                        ("metric", models.CharField(max_length=100)),
                        ("first_ts", models.DateTimeField()),
                        ("last_ts", models.DateTimeField()),
                        ("results", models.IntegerField()),
                        ("failures", models.IntegerField()),
                    ],
                    options={"db_table": "evals_evalrunmetric", "managed": False},
                ),
            ],
        ),
    ]
