#!/bin/sh
# Entry point of the opsdash image.
#   opsdash-entrypoint COMMAND...        check the configuration, then exec COMMAND
#   opsdash-entrypoint health web|worker|beat
#                                        container health checks (Dockerfile, compose.yml)
set -eu

health_web() {
    # Django answers 400 to a Host outside ALLOWED_HOSTS, so ask with the first allowed name.
    exec python - <<'EOF'
import os
import sys
import urllib.error
import urllib.request

hosts = [h.strip() for h in os.environ.get("OPSDASH_ALLOWED_HOSTS", "127.0.0.1").split(",") if h.strip()]
host = hosts[0].lstrip(".") if hosts and hosts[0] != "*" else "localhost"
request = urllib.request.Request("http://127.0.0.1:8000/healthz", headers={"Host": host})
try:
    with urllib.request.urlopen(request, timeout=5) as response:
        print(response.read().decode())
except urllib.error.HTTPError as exc:
    print(f"/healthz answered {exc.code}: {exc.read().decode()[:300]}")
    sys.exit(1)
except OSError as exc:
    print(f"/healthz did not answer: {exc}")
    sys.exit(1)
EOF
}

health_worker() {
    # The worker's node name is celery@<container hostname>; only this container's worker
    # is asked, so one stuck worker among several scaled ones is still reported.
    exec celery -A opsdash inspect ping --destination "celery@$(uname -n)" --timeout 10
}

health_beat() {
    # beat rewrites its schedule file at least every few minutes while it sends the 30 s
    # worker heartbeat; a file older than 10 minutes means beat has stopped scheduling.
    # The glob covers the suffixes some dbm backends add to the file name.
    exec python - <<'EOF'
import glob
import os
import sys
import time

files = glob.glob("/data/celerybeat-schedule*")
if not files:
    print("no /data/celerybeat-schedule yet")
    sys.exit(1)
age = time.time() - max(os.path.getmtime(f) for f in files)
print(f"schedule written {age:.0f} s ago")
sys.exit(0 if age < 600 else 1)
EOF
}

if [ "${1:-}" = "health" ]; then
    case "${2:-}" in
        web) health_web ;;
        worker) health_worker ;;
        beat) health_beat ;;
        *)
            echo "usage: opsdash-entrypoint health web|worker|beat" >&2
            exit 64
            ;;
    esac
fi

# Without these, settings would start an embedded Postgres and a filesystem broker inside
# the container: fine for development, silently wrong for a deployment.
if [ -z "${DATABASE_URL:-}" ]; then
    echo "opsdash: DATABASE_URL is not set; point it at your Postgres, e.g. postgres://opsdash:PASSWORD@postgres:5432/opsdash." >&2
    exit 2
fi
if [ -z "${CELERY_BROKER_URL:-}" ]; then
    echo "opsdash: CELERY_BROKER_URL is not set; point it at your Redis, e.g. redis://redis:6379/0." >&2
    exit 2
fi

exec "$@"
