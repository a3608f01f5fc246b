"""Tidepool settings, read from the environment (12-factor) with safe embedded defaults.

Embedded run (no variables set by ``make run``): SQLite under ``var/``, a filesystem Celery
broker under ``var/celery``, a file cache under ``var/cache``. Production: set ``DEBUG=0``,
``SECRET_KEY``, ``ALLOWED_HOSTS``, ``DATABASE_URL`` and ``REDIS_URL``.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TIDEPOOL_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # SECURITY: only for the embedded development run, never with DEBUG off.
    SECRET_KEY = "tidepool-embedded-development-key-not-for-production-use-0123456789"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "crm.apps.CrmConfig",
    "pools.apps.PoolsConfig",
    "customers.apps.CustomersConfig",
    "opportunities.apps.OpportunitiesConfig",
    "leads.apps.LeadsConfig",
    "reports.apps.ReportsConfig",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_filters",
    "guardian",
    "import_export",
    "axes",
    "csp",
    "heroicons",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "crm.middleware.ChosenLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "crm.middleware.PasswordChangeRequiredMiddleware",
    "crm.tenancy.TenantScopeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "crm.context_processors.crm",
            ],
        },
    },
]

VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, beat) share the embedded database: wait for locks
    # instead of failing, and take the write lock at BEGIN so upgrades cannot deadlock.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # PERF: PostgreSQL's JIT spent ~100 ms compiling short list queries (bench/customer_list.py).
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "crm.User"
AUTHENTICATION_BACKENDS = [
    # SECURITY: axes first, so that locked-out credentials never reach the real backends.
    "axes.backends.AxesStandaloneBackend",
    "crm.auth.UsernameOrMobileBackend",
    "guardian.backends.ObjectPermissionBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "crm:workbench"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 8},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-guardian: no anonymous user row (it would belong to no tenant).
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False

# Sign-in lock-out (django-axes, crm.auth): an ACCOUNT is locked after AXES_FAILURE_LIMIT
# failures, whichever spelling (username in any case, mobile in any format) and whichever
# address they came from; separately a client ADDRESS is locked after
# SIGNIN_ADDRESS_FAILURE_LIMIT failures on any accounts (higher: an office behind one NAT
# address). Both for AXES_COOLOFF_TIME after the last failure; attempts while locked do not
# extend it, so the time the locked page names holds. A successful sign-in clears the
# failures of that account only.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
SIGNIN_ADDRESS_FAILURE_LIMIT = int(os.environ.get("SIGNIN_ADDRESS_FAILURE_LIMIT", "30"))
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one locks
AXES_USERNAME_CALLABLE = "crm.auth.lockout_key"
AXES_CLIENT_IP_CALLABLE = "crm.auth.client_ip"
AXES_HANDLER = "crm.auth.AccountAndAddressHandler"
AXES_LOCKOUT_CALLABLE = "crm.auth.lockout_response"
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Reverse proxies whose X-Forwarded-For is believed (addresses or CIDR networks, comma-
# separated). Empty: the client address is REMOTE_ADDR, whatever the request's headers say.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", "")

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    # A file cache is shared by every process on the machine (web, worker, beat); its add
    # and incr are atomic across them (crm.cache: form tokens, rate limits).
    CACHES = {
        "default": {
            "BACKEND": "crm.cache.AtomicFileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = 60 * 60 * 24 * 14

# Celery: Redis when REDIS_URL is set, otherwise kombu's filesystem transport, a real
# queue on disk that a real worker and beat consume (never eager mode in the app).
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
CELERY_QUEUE_DIR = VAR_DIR / "celery"
if not REDIS_URL:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_QUEUE_DIR / "queue"),
        "data_folder_out": str(CELERY_QUEUE_DIR / "queue"),
        "processed_folder": str(CELERY_QUEUE_DIR / "processed"),
        "control_folder": str(CELERY_QUEUE_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "tidepool@localhost")

MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# SQLite builds an index's INCLUDE columns as nothing (Django warns once per index): the
# covering indexes are a PostgreSQL speed-up (customers.OwnershipEvent "ownership_pool_time").
SILENCED_SYSTEM_CHECKS = ["models.W040"]

# Production hardening: only when DEBUG is off (``manage.py check --deploy`` is clean).
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    # SECURITY: includeSubDomains and preload are opt-in: they bind the company's whole domain
    # (every subdomain, and browsers' built-in lists) for a year and are hard to undo.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    # check --deploy warns about each one left off: that is the deliberate default.
    SILENCED_SYSTEM_CHECKS += [
        *([] if SECURE_HSTS_INCLUDE_SUBDOMAINS else ["security.W005"]),
        *([] if SECURE_HSTS_PRELOAD else ["security.W021"]),
    ]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# SECURITY: Content-Security-Policy (django-csp): everything from this origin only, and no
# inline code at all (no <script>/<style> blocks, no on…= or style= attributes, no eval):
# scripts live in static/js, styles in static/css, and htmx is told not to eval nor inject
# its indicator <style> (the htmx-config meta in templates/base.html).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}

TIDEPOOL_SITE_NAME = _("Tidepool CRM")
# The address people open the site at: links in e-mail digests and group-bot messages are
# made absolute with it (left relative when unset).
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000" if DEBUG else "").rstrip("/")
# Group-bot webhooks must point at the provider's host (crm.webhooks.validate_url); the tests
# and a developer's machine may point them at a local server instead.
WEBHOOK_ALLOW_LOCAL = env_bool("WEBHOOK_ALLOW_LOCAL", DEBUG)

# Uploads (crm.uploads): the most file bytes one request may carry (the largest attachment,
# 100 MB; imports stop at IMPORT_MAX_BYTES), refused by the first upload handler from the
# request's Content-Length before anything is written to disk, with a translated 413 page.
UPLOAD_MAX_BYTES = int(os.environ.get("UPLOAD_MAX_BYTES", 100 * 1024 * 1024))
FILE_UPLOAD_HANDLERS = [
    "crm.uploads.UploadLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# Files up to 2.5 MB stay in memory, larger ones go to a temporary file (deleted with the
# request); a request's fields other than files (forms, bulk ids) may hold 2.5 MB.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# Imports (crm.importing): the largest upload, and up to which size a file is checked /
# up to how many rows it is applied in the request instead of by a worker.
IMPORT_MAX_BYTES = int(os.environ.get("IMPORT_MAX_BYTES", 50 * 1024 * 1024))
IMPORT_SYNC_BYTES = int(os.environ.get("IMPORT_SYNC_BYTES", 64 * 1024))
IMPORT_SYNC_ROWS = int(os.environ.get("IMPORT_SYNC_ROWS", 200))
# PostgreSQL: check an import's foreign keys once per distinct value and batch instead of
# once per row (crm.bulk.insert_rows), where the database role may set
# session_replication_role (superuser, or GRANT SET ON PARAMETER on PostgreSQL 15+).
IMPORT_SET_BASED_FK_CHECKS = os.environ.get("IMPORT_SET_BASED_FK_CHECKS", "1") == "1"
# PostgreSQL: how many batches of a large import are written at once, each on a connection
# of its own (crm.importing.import_apply); 1 writes them one after the other.
IMPORT_APPLY_CONNECTIONS = max(1, int(os.environ.get("IMPORT_APPLY_CONNECTIONS", 2)))

# Exports (crm.exporting): up to how many rows an export is built in the request (larger
# ones by a worker, the user is notified), and how many days export files and jobs are kept.
EXPORT_SYNC_ROWS = int(os.environ.get("EXPORT_SYNC_ROWS", 2000))
EXPORT_RETENTION_DAYS = int(os.environ.get("EXPORT_RETENTION_DAYS", 7))
# 查重 (the duplicate check page and the forms' duplicate warnings): searches per user and
# minute (crm.throttling); one more is answered 429.
DUPLICATE_CHECK_PER_MINUTE = int(os.environ.get("DUPLICATE_CHECK_PER_MINUTE", 30))

from celery.schedules import crontab  # noqa: E402

CELERY_BEAT_SCHEDULE = {
    "pool-recycle": {
        "task": "pools.tasks.pool_recycle_all_task",
        "schedule": crontab(minute=5),  # hourly
    },
    "pool-warn": {
        "task": "pools.tasks.pool_warn_all_task",
        "schedule": crontab(hour=8, minute=0),
    },
    "notification-purge": {
        "task": "crm.tasks.notification_purge_all_task",
        "schedule": crontab(hour=3, minute=15),
    },
    "export-purge": {
        "task": "crm.tasks.export_purge_all_task",
        "schedule": crontab(hour=3, minute=45),
    },
    "import-housekeeping": {
        "task": "crm.tasks.import_housekeeping_task",
        "schedule": crontab(minute="*/5"),
    },
    "leads-auto-assign": {
        "task": "leads.tasks.leads_auto_assign_all_task",
        "schedule": crontab(minute="*/15"),
    },
    # Every minute: follow-ups are reminded 15 minutes before (by default), the 08:30 digest,
    # the e-mail digests (crm/reminders.py, crm/deliveries.py).
    "reminders-run": {
        "task": "crm.tasks.reminders_run_all_task",
        "schedule": crontab(),
    },
    # Group-bot pushes and e-mail digests that are due: retries after their backoff, pushes
    # held through quiet hours (crm/deliveries.py).
    "reminder-deliveries": {
        "task": "crm.tasks.deliveries_send_all_task",
        "schedule": crontab(),
    },
    "reminders-purge": {
        "task": "crm.tasks.reminders_purge_all_task",
        "schedule": crontab(hour=3, minute=30),
    },
    # Report figures (reports/summary.py): today's every five minutes, the last week
    # recomputed from the base tables nightly (drift is logged and fixed).
    "reports-refresh": {
        "task": "reports.tasks.reports_refresh_all_task",
        "schedule": crontab(minute="*/5"),
    },
    # Catalogue import files nobody confirmed within a day (opportunities.importing).
    "product-import-purge": {
        "task": "opportunities.tasks.product_import_purge_all_task",
        "schedule": crontab(hour=3, minute=50),
    },
    "reports-reconcile": {
        "task": "reports.tasks.reports_reconcile_all_task",
        "schedule": crontab(hour=2, minute=40),
    },
}
