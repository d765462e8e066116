#!/usr/bin/env bash
# Start opsdash for a demo: database, migrations, an admin, demo data, then the web
# server, a Celery worker and beat under honcho (the worker and beat are restarted if they
# die; see Procfile). Ctrl-C stops all of them, and the embedded database and broker if this
# run started them and no other client uses them. A second run reuses everything and starts
# in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
export OPSDASH_DEBUG="${OPSDASH_DEBUG:-1}"
export PYTHONUNBUFFERED=1
PORT="${PORT:-8000}"
export OPSDASH_PORT="$PORT"
manage() { .venv/bin/python manage.py "$@"; }

# What ran before this demo is left running at its end; what it started is stopped unless
# another client (a benchmark, a test run, a shell) still uses it.
read -r db_before broker_before < <(.venv/bin/python scripts/embedded_services.py status)
stop_services() {
  local stop=()
  if [ -z "${DATABASE_URL:-}" ]; then
    if [ "$db_before" = "database=stopped" ]; then
      stop+=(--database)
    else
      echo "opsdash: the embedded Postgres was running before this demo and stays up (make db-stop stops it)."
    fi
  fi
  if [ -z "${CELERY_BROKER_URL:-}" ] && [ "$broker_before" = "broker=stopped" ]; then stop+=(--broker); fi
  if [ ${#stop[@]} -gt 0 ]; then .venv/bin/python scripts/embedded_services.py stop-unused "${stop[@]}" || true; fi
}

manage preflight --port "$PORT"
manage migrate --no-input -v 0
data_dir="$(.venv/bin/python -c 'import os; print(os.path.abspath(os.environ.get("OPSDASH_DATA_DIR", ".opsdash")))')"
login_file="$data_dir/demo-login.txt"
if ! manage create_user admin --role admin --exists-ok --password-file "$login_file" -v 0; then
  exit 2
fi
if ! manage seed_demo --if-empty; then
  echo "opsdash: loading demo data failed (see above); fix it and run make demo again." >&2
  exit 2
fi

echo
echo "  opsdash is starting on http://127.0.0.1:$PORT"
echo "  log in as: admin / $(cat "$login_file")"
echo "  Ctrl-C stops the web server, the worker, beat and the embedded database and broker."
echo
trap stop_services EXIT
.venv/bin/honcho start -f Procfile
