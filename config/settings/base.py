"""Settings shared by every environment; each value comes from the environment.

`.env.example` lists every variable with one line of why.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF

from config.env import env_bool, env_int, env_list, env_rate, env_str
from config.logging import build_logging_config

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("KEYHOLD_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Behind N reverse proxies that each append to X-Forwarded-For, the client address is the
# Nth from the right. Zero means REMOTE_ADDR is the client (no proxy is trusted).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "guardian",
    "axes",
    "csp",
    "django_htmx",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "tenants",
    "vault",
    "audit",
    "rotation",
    "intake",
    "offboarding",
    "integrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.SessionLifetimeMiddleware",
    "accounts.middleware.MfaRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
    "audit.context.AuditContextMiddleware",
    "config.errors.KeyholdErrorMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'keyhold.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo runs a web process and a Celery worker against one file: WAL and a busy
    # timeout let them share it, IMMEDIATE transactions avoid upgrade deadlocks.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"

# Idle timeout: the cookie's age is renewed by every request, so it expires after this
# long without one. The absolute lifetime ends a session however busy it is.
SESSION_IDLE_TIMEOUT_MINUTES = env_int("SESSION_IDLE_TIMEOUT_MINUTES", 30, minimum=1)
SESSION_MAX_LIFETIME_HOURS = env_int("SESSION_MAX_LIFETIME_HOURS", 12, minimum=1)
SESSION_COOKIE_AGE = SESSION_IDLE_TIMEOUT_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"

# REST API (integrations): API tokens in a header, or a browser session that passed MFA (its
# CSRF token checked by DRF). JSON only: no browsable API.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "integrations.authentication.ApiTokenAuthentication",
        "integrations.authentication.VerifiedSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "integrations.schema.KeyholdAutoSchema",
    "EXCEPTION_HANDLER": "integrations.rest.problem_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # OPTIONS would describe each view (name, docstring, parsers): 405 instead (C54).
    "DEFAULT_METADATA_CLASS": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Keyhold API",
    "DESCRIPTION": (
        "Clients, systems, credential metadata, reveals, checkouts, rotation tasks, audit "
        "events and intake for PSA tools and MSP scripts. Authenticate with an API token "
        "(`Authorization: Bearer kh_…` or `x-api-key: kh_…`); errors are RFC 9457 problem "
        "details."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name for a choice set that several resources use under different field names.
    "ENUM_NAME_OVERRIDES": {
        "SystemKindEnum": "tenants.models.System.Kind",
        "AccessLevelEnum": "intake.serializers.ACCESS_LEVEL_NAMES",
    },
}
# API rate limits (django-ratelimit windows such as "600/m"): every call of one token (or one
# person's session); reveals of one token or person; refused tokens from one address.
API_RATE_PER_TOKEN = env_rate("API_RATE_PER_TOKEN", "600/m")
API_REVEAL_RATE = env_rate("API_REVEAL_RATE", "60/h")
API_TOKEN_REFUSALS_PER_ADDRESS = env_rate("API_TOKEN_REFUSALS_PER_ADDRESS", "30/m")
# The longest an API token may live (C50: every token expires), in days.
API_TOKEN_MAX_DAYS = env_int("API_TOKEN_MAX_DAYS", 365, minimum=1)

# MFA: django-otp with Keyhold's own devices (accounts.models), whose secrets are encrypted.
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Keyhold")
MFA_THROTTLE_FACTOR = 1
MFA_STEP_UP_MINUTES = env_int("MFA_STEP_UP_MINUTES", 10, minimum=1)

# Lockout: username and IP together, so an attacker cannot lock a technician out from
# elsewhere by guessing at their address (reference/ecosystem.md 1.7).
AXES_FAILURE_LIMIT = 10
# The login form posts the email in "username" (Django's AuthenticationForm).
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "accounts.lockout.lockout_username"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOCKOUT_MINUTES", 30, minimum=1))
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
AXES_CLIENT_IP_CALLABLE = "audit.context.client_ip"

# django-guardian: no anonymous user row; object permissions are mirrored from
# tenants.Assignment, which stays the source of truth.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False

KEYHOLD_KEYRING = Path(env_str("KEYHOLD_KEYRING", str(VAR_DIR / "keyring.json")))
# Key provider that wraps client data keys: local (the keyring file), aws-kms, vault-transit.
KEYHOLD_KEY_PROVIDER = env_str("KEYHOLD_KEY_PROVIDER", "local")
KEYHOLD_KMS_KEY_ID = env_str("KEYHOLD_KMS_KEY_ID")
KEYHOLD_KMS_REGION = env_str("KEYHOLD_KMS_REGION")
KEYHOLD_KMS_ENDPOINT_URL = env_str("KEYHOLD_KMS_ENDPOINT_URL")
KEYHOLD_KMS_KEY_VERSION = env_int("KEYHOLD_KMS_KEY_VERSION", 1, minimum=1)
KEYHOLD_KMS_PREVIOUS_KEY_IDS = env_list("KEYHOLD_KMS_PREVIOUS_KEY_IDS", [])
KEYHOLD_TRANSIT_URL = env_str("KEYHOLD_TRANSIT_URL")
KEYHOLD_TRANSIT_TOKEN_FILE = env_str("KEYHOLD_TRANSIT_TOKEN_FILE")
KEYHOLD_TRANSIT_KEY = env_str("KEYHOLD_TRANSIT_KEY")
KEYHOLD_TRANSIT_MOUNT = env_str("KEYHOLD_TRANSIT_MOUNT", "transit")
KEYHOLD_TRANSIT_CA_BUNDLE = env_str("KEYHOLD_TRANSIT_CA_BUNDLE")
# Whether reveals need a ticket for clients without a vault policy of their own.
KEYHOLD_REVEAL_TICKET_REQUIRED = env_bool("KEYHOLD_REVEAL_TICKET_REQUIRED", False)
# Unwrapped client data keys live in this process's memory (never in Redis) this long.
KEYHOLD_DEK_CACHE_SECONDS = env_int("KEYHOLD_DEK_CACHE_SECONDS", 60, minimum=0)
# Encryptions under one data key before saving is refused until the client key is rotated;
# NIST SP 800-38D: stay far below 2**32 random-nonce encryptions per key (check C23).
KEYHOLD_DEK_MAX_ENCRYPTIONS = env_int("KEYHOLD_DEK_MAX_ENCRYPTIONS", 2**30, minimum=1)
# Client data-key versions below this are refused for decryption (check C25, like Vault
# Transit's min_decryption_version); 1 refuses none. Raise it only once rotate_client_key
# has moved every value to a newer version: the rotation itself cannot read older ones.
KEYHOLD_MIN_DATA_KEY_VERSION = env_int("KEYHOLD_MIN_DATA_KEY_VERSION", 1, minimum=1)
INVITATION_VALID_DAYS = env_int("INVITATION_VALID_DAYS", 7, minimum=1)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "keyhold@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Where staff reach Keyhold: alert emails link to pages under it.
KEYHOLD_BASE_URL = env_str("KEYHOLD_BASE_URL", "http://localhost:8000").rstrip("/")
# The MSP's name as client contacts see it on intake links.
KEYHOLD_MSP_NAME = env_str("KEYHOLD_MSP_NAME", "Your IT provider")
# How often one address, and one intake link, may hit the public intake page.
INTAKE_LINK_RATE_PER_ADDRESS = env_rate("INTAKE_LINK_RATE_PER_ADDRESS", "60/h")
INTAKE_LINK_RATE_PER_LINK = env_rate("INTAKE_LINK_RATE_PER_LINK", "30/h")

# Celery: Redis when REDIS_URL is set; otherwise a broker in files under var/, so the
# embedded demo runs a real worker and beat without Redis (docs/decisions/0002).
CELERY_DATA_DIR = VAR_DIR / "celery"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_DATA_DIR / "queue"),
        "data_folder_out": str(CELERY_DATA_DIR / "queue"),
        "control_folder": str(CELERY_DATA_DIR / "control"),
    }
    CELERY_RESULT_BACKEND = f"file://{CELERY_DATA_DIR / 'results'}"
    # Celery's file backend refuses to start without its folders, even for eager tasks.
    for _folder in ("queue", "control", "results"):
        (CELERY_DATA_DIR / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = timedelta(hours=1)
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "invitations-purge-expired": {
        "task": "accounts.tasks.invitations_purge_expired",
        "schedule": timedelta(hours=1),
    },
    "sessions-clear-expired": {
        "task": "accounts.tasks.sessions_clear_expired",
        "schedule": timedelta(hours=6),
    },
}

# Security headers. HSTS and secure cookies are switched on in production settings.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = build_logging_config(LOG_LEVEL, json_output=env_bool("LOG_JSON", True))
DJANGO_STRUCTLOG_CELERY_ENABLED = True

# Audit: tamper-evidence checkpoints outside the database, review thresholds, the SIEM feed.
AUDIT_CHECKPOINT_DIR = Path(env_str("AUDIT_CHECKPOINT_DIR", str(VAR_DIR / "audit-checkpoints")))
AUDIT_BULK_ACCESS_COUNT = env_int("AUDIT_BULK_ACCESS_COUNT", 20, minimum=2)
AUDIT_BULK_ACCESS_MINUTES = env_int("AUDIT_BULK_ACCESS_MINUTES", 10, minimum=1)
BUSINESS_HOURS_START = env_int("BUSINESS_HOURS_START", 7, minimum=0)
BUSINESS_HOURS_END = env_int("BUSINESS_HOURS_END", 19, minimum=1)
AUDIT_UNUSED_DAYS = env_int("AUDIT_UNUSED_DAYS", 180, minimum=1)
AUDIT_NEW_IP_LOOKBACK_DAYS = env_int("AUDIT_NEW_IP_LOOKBACK_DAYS", 90, minimum=1)
# Forward every event as JSON: an https:// URL (POST) or syslog://host:port (UDP), or empty.
AUDIT_SIEM_URL = env_str("AUDIT_SIEM_URL")
CELERY_BEAT_SCHEDULE["audit-chain-verify-nightly"] = {
    "task": "audit.tasks.audit_chain_verify",
    "schedule": crontab(hour=2, minute=30),
}
CELERY_BEAT_SCHEDULE["audit-siem-forward"] = {
    "task": "audit.tasks.audit_siem_forward",
    "schedule": timedelta(minutes=1),
    "options": {"expires": 50},
}
CELERY_BEAT_SCHEDULE["audit-checkpoint"] = {
    "task": "audit.tasks.audit_checkpoint_write",
    "schedule": timedelta(minutes=15),
}

# Vault and alerts: lease expiry (leases also end at read time without it), share-link purge,
# and the outbox of alerts (mail outages delay alerts, never lose them).
CELERY_BEAT_SCHEDULE["vault-checkouts-expire"] = {
    "task": "vault.tasks.checkouts_expire",
    "schedule": timedelta(minutes=1),
    "options": {"expires": 50},
}
CELERY_BEAT_SCHEDULE["vault-share-links-purge"] = {
    "task": "vault.tasks.share_links_purge",
    "schedule": timedelta(minutes=10),
}
CELERY_BEAT_SCHEDULE["accounts-outbox-drain"] = {
    "task": "accounts.tasks.outbox_drain",
    "schedule": timedelta(minutes=1),
    "options": {"expires": 50},
}
# PSA tickets of rotation tasks: queued calls go out every minute (outages retry with backoff).
CELERY_BEAT_SCHEDULE["rotation-psa-calls-send"] = {
    "task": "rotation.tasks.psa_calls_send",
    "schedule": timedelta(minutes=1),
    "options": {"expires": 50},
}
# Outbound webhooks: new audit events become deliveries every minute; failed ones are retried
# with backoff. Receivers must use https:// unless this allows http (local tests, labs).
WEBHOOK_ALLOW_HTTP = env_bool("WEBHOOK_ALLOW_HTTP", False)
CELERY_BEAT_SCHEDULE["integrations-webhook-events-collect"] = {
    "task": "integrations.tasks.webhook_events_collect",
    "schedule": timedelta(minutes=1),
    "options": {"expires": 50},
}
CELERY_BEAT_SCHEDULE["integrations-webhook-deliveries-retry"] = {
    "task": "integrations.tasks.webhook_deliveries_retry",
    "schedule": timedelta(minutes=1),
    "options": {"expires": 50},
}

# Rotation: tasks open this many days before a credential is due; owners are reminded this
# many days before; overdue tasks are escalated to the client's managers once.
ROTATION_TASK_LEAD_DAYS = env_int("ROTATION_TASK_LEAD_DAYS", 7, minimum=0)
ROTATION_REMINDER_DAYS = env_int("ROTATION_REMINDER_DAYS", 3, minimum=0)
CELERY_BEAT_SCHEDULE["rotation-due-scan"] = {
    "task": "rotation.tasks.rotation_due_scan",
    "schedule": timedelta(hours=1),
    "options": {"expires": 3000},
}
CELERY_BEAT_SCHEDULE["rotation-reminders-send"] = {
    "task": "rotation.tasks.rotation_reminders_send",
    "schedule": timedelta(hours=1),
    "options": {"expires": 3000},
}
CELERY_BEAT_SCHEDULE["rotation-escalate-overdue"] = {
    "task": "rotation.tasks.rotation_escalate_overdue",
    "schedule": timedelta(hours=1),
    "options": {"expires": 3000},
}

# Client offboarding: an offboarded client's data keys are crypto-shredded this many days after
# its offboarding is confirmed (the daily job below); its audit trail stays readable.
OFFBOARDING_RETENTION_DAYS = env_int("OFFBOARDING_RETENTION_DAYS", 90, minimum=1)
CELERY_BEAT_SCHEDULE["offboarding-client-exits-shred-due"] = {
    "task": "offboarding.tasks.client_exits_shred_due",
    "schedule": crontab(hour=3, minute=15),
}
# Departures: rotations finished since the last look join the open cases' evidence logs.
CELERY_BEAT_SCHEDULE["offboarding-cases-sync"] = {
    "task": "offboarding.tasks.cases_sync",
    "schedule": timedelta(minutes=10),
    "options": {"expires": 500},
}

# The audit table's covering indexes INCLUDE extra columns on PostgreSQL; SQLite (the demo)
# keeps them as plain partial indexes, which is all it needs.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

# Intake: the largest export accepted for an import. It is held in memory only (never in a
# temporary file: it holds plaintext passwords), so this bounds each upload's memory.
INTAKE_IMPORT_MAX_BYTES = env_int("INTAKE_IMPORT_MAX_BYTES", 50 * 1024 * 1024, minimum=1024)
