#!/usr/bin/env bash
# Start opsdash for a demo: database, migrations, an admin, demo data, then the web
# server, a Celery worker and beat under honcho. Ctrl-C stops all of them and the
# embedded database. A second run reuses everything and starts in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
export OPSDASH_DEBUG="${OPSDASH_DEBUG:-1}"
export PYTHONUNBUFFERED=1
PORT="${PORT:-8000}"
export OPSDASH_PORT="$PORT"
manage() { .venv/bin/python manage.py "$@"; }

stop_database() {
  if [ -z "${DATABASE_URL:-}" ]; then .venv/bin/python -m opsdash.lib.embedded_db stop >/dev/null 2>&1 || true; fi
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
echo "  Ctrl-C stops the web server, the worker, beat and the embedded database."
echo
trap stop_database EXIT
.venv/bin/honcho start -f Procfile
