#!/usr/bin/env bash
# make test-clock-sweep: the clock-sensitive tests, once per instant that broke before
# (midnight, the first and last minutes of months and years, February 28 and 29, each 3 hours
# of a day), by moving the pinned test clock with OPSDASH_TEST_NOW (tests/conftest.py). One
# pytest process per instant, CLOCK_SWEEP_JOBS of them at a time, each job on its own test
# database (created afresh at its first instant, then reused). A summary line per instant;
# fails if any instant fails. Logs: test-output/clock-sweep/.
#
# DATABASE_URL is used as given (unset: the embedded Postgres).
#   CLOCK_SWEEP_INSTANTS="2027-02-28T23:55:00Z ..."  other instants
#   CLOCK_SWEEP_TESTS="tests/alerts ..."             other tests
#   CLOCK_SWEEP_JOBS=1                               one instant at a time
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=.venv/bin/python

# What turns "now" into a day, a month or an hour: the dashboards (cost today and month to
# date, forecasts, tenants, safety and eval windows), budget alerts, partitions, retention
# and the future limit of ingest, eval summaries, key and link expiry, and the demo data
# anchored at the current hour. Browser and worker tests run on the machine's clock (other
# processes) and are left out; so are tests that go through the hours of a day themselves
# (tests/telemetry/test_long_range_reads.py, the demo generator's anchors).
DEFAULT_TESTS=(
  tests/dashboards
  tests/alerts/test_budgets.py
  tests/alerts/test_settings_budgets.py
  tests/alerts/test_eval_rule.py
  tests/alerts/test_notices.py
  tests/alerts/test_bursts.py
  tests/alerts/test_hysteresis.py
  tests/alerts/test_demo_alerts.py
  tests/telemetry/test_partitions.py
  tests/ingest/test_event_validation.py
  tests/telemetry/test_ingest_storage.py
  tests/evals/test_run_summaries.py
  tests/evals/test_failing_prompt_count.py
  tests/tenants/test_key_services.py
  tests/accounts/test_password_links.py
  tests/core/test_seed_demo.py
)
# The second full load of the demo proves a fresh database gets the same data, at any hour.
DESELECT=(--deselect tests/core/test_seed_demo.py::test_it_loads_the_same_data_again_into_a_fresh_database)

DEFAULT_INSTANTS=(
  # Either side of midnight, mid-month.
  2026-11-18T23:59:30Z
  2026-11-19T00:00:30Z
  # The last minutes of a 31-day month (and a year), of February and of a leap February.
  2026-12-31T23:55:00Z
  2027-02-28T23:55:00Z
  2028-02-29T23:55:00Z
  # The first minutes of a month (and a year).
  2027-01-01T00:02:00Z
  # Each 3 hours of a day.
  2026-11-18T00:00:00Z
  2026-11-18T03:00:00Z
  2026-11-18T06:00:00Z
  2026-11-18T09:00:00Z
  2026-11-18T12:00:00Z
  2026-11-18T15:00:00Z
  2026-11-18T18:00:00Z
  2026-11-18T21:00:00Z
)

read -r -a TESTS <<<"${CLOCK_SWEEP_TESTS:-${DEFAULT_TESTS[*]}}"
read -r -a INSTANTS <<<"${CLOCK_SWEEP_INSTANTS:-${DEFAULT_INSTANTS[*]}}"
JOBS="${CLOCK_SWEEP_JOBS:-2}"
existing=()
for path in "${TESTS[@]}"; do
  if [ -e "$path" ]; then existing+=("$path"); else echo "clock sweep: $path does not exist, left out" >&2; fi
done
if [ "${#existing[@]}" -eq 0 ]; then echo "clock sweep: no tests to run" >&2; exit 2; fi

# Each job's test database: the suite's own name (OPSDASH_TEST_DATABASE or test_<name>) + _sweepN.
test_database=$(
  "$PYTHON" -c '
import os
from opsdash.lib import embedded_db
from opsdash.lib.env import parse_database_url
url = os.environ.get("DATABASE_URL")
name = parse_database_url(url).name if url else embedded_db.DATABASE_NAME
print(os.environ.get("OPSDASH_TEST_DATABASE") or f"test_{name}")'
) || exit 2

LOGS=test-output/clock-sweep
rm -rf "$LOGS"
mkdir -p "$LOGS"
echo "clock sweep: ${#INSTANTS[@]} instants, $JOBS at a time, over: ${existing[*]}"

run_job() {
  local job=$1 i instant log start status verdict result db_option=--create-db
  for ((i = job; i < ${#INSTANTS[@]}; i += JOBS)); do
    instant=${INSTANTS[$i]}
    log="$LOGS/${instant//:/}.log"
    start=$SECONDS
    OPSDASH_TEST_NOW="$instant" OPSDASH_TEST_DATABASE="${test_database}_sweep$job" \
      "$PYTHON" -m pytest -q -x -p no:cacheprovider "$db_option" -m "not browser and not worker and not real_clock" \
      "${DESELECT[@]}" "${existing[@]}" >"$log" 2>&1
    status=$?
    db_option=--reuse-db
    result=$(grep -E '[0-9]+ (passed|failed|errors?)' "$log" | tail -n 1 | tr -d '=' | sed 's/^ *//')
    if [ "$status" -eq 0 ]; then verdict=ok; else verdict=FAILED; fi
    line=$(printf '%-22s %-6s %4ss  %s' "$instant" "$verdict" "$((SECONDS - start))" "${result:-no result, see $log}")
    [ "$status" -eq 0 ] || line+="  ($log)"
    echo "$line" | tee "$LOGS/$(printf '%03d' "$i").result"
    [ "$status" -eq 0 ] || grep -E '^(FAILED|ERROR) ' "$log" | sed 's/^/    /'
  done
}

sweep_start=$SECONDS
for ((job = 0; job < JOBS; job++)); do run_job "$job" & done
wait

echo
failed=$(cat "$LOGS"/*.result | grep -c ' FAILED ')
echo "clock sweep: ${#INSTANTS[@]} instants, $failed failed, $((SECONDS - sweep_start))s in all"
sed 's/^/  /' "$LOGS"/*.result
[ "$failed" -eq 0 ] && [ "$(ls "$LOGS"/*.result | wc -l)" -eq "${#INSTANTS[@]}" ]
