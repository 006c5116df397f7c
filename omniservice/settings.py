"""Django settings, read only from the environment (see the table in README.md)."""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from omniservice.env import env_bool, env_choice, env_int, env_list, env_str
from omniservice.safety import INSECURE_KEY_PREFIX, check_production_safety

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", INSECURE_KEY_PREFIX + "change-me-for-any-public-deployment")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
check_production_safety(secret_key=SECRET_KEY, debug=DEBUG, allowed_hosts=ALLOWED_HOSTS)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_beat",
    # layer 0: kernel
    "omniservice.org",
    "omniservice.outbox",
    "omniservice.api",
    # layers 1-5
    "customers",
    "knowledge",
    "tickets",
    "analytics",
    "channels_hub",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "omniservice.urls"
WSGI_APPLICATION = "omniservice.wsgi.application"
ASGI_APPLICATION = "omniservice.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'omniservice.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # 0 under ASGI: Django runs each request in its own thread, so a kept connection is
    # never reused and only piles up idle backends.
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 0, minimum=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
IS_POSTGRES = DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis: channel layer, cache, broker ----------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
# Connecting to Redis and each cache command give up after this long: a Redis that hangs
# (a network partition) must not hold a webhook past the provider's deadline (WeChat:
# five seconds); the callers that can go on without Redis then do (omniservice.outages).
REDIS_TIMEOUT_SECONDS = env_int("REDIS_TIMEOUT_MS", 1000, minimum=50) / 1000
if REDIS_URL:
    # Redis pub/sub (one PUBLISH per group, each process fans out to its own sockets):
    # the sorted-set "core" layer drops events under load and, with redis-py 8's 5 s read
    # timeout, closes idle consumers (docs/performance.md, "Live push").
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("CHANNEL_LAYER_PREFIX", "omni")},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "omni"),
            "OPTIONS": {
                "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
                "socket_timeout": REDIS_TIMEOUT_SECONDS,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Per-process snapshots of rarely changed configuration (omniservice.config_cache): only
# with a cache all processes share.
CONFIG_SNAPSHOTS = env_bool("CONFIG_SNAPSHOTS", bool(REDIS_URL))

# --- celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
}
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_TIMEOUT_SECONDS
CELERY_TIMEZONE = "UTC"
# Periodic tasks live in the database (django-celery-beat), editable in the admin; the
# entries below seed it on beat start and are never overwritten there (omniservice.beat).
CELERY_BEAT_SCHEDULER = "omniservice.beat:SeededDatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "outbox-sweep": {"task": "omniservice.outbox.tasks.sweep_outbox", "schedule": 30.0},
    "idempotency-purge": {
        "task": "omniservice.api.tasks.purge_idempotency_records",
        "schedule": 3600.0,
    },
    "automation-time-rules": {
        "task": "tickets.automation.tasks.sweep_time_rules",
        "schedule": 300.0,
    },
    "sla-deadlines": {"task": "tickets.sla.check_sla_deadlines", "schedule": 60.0},
    "routing-sweep": {
        "task": "tickets.routing.triggers.sweep_routing_queue",
        "schedule": float(env_int("ROUTING_SWEEP_SECONDS", 30, minimum=5)),
    },
    "nps-surveys": {"task": "tickets.surveys.tasks.send_nps_surveys", "schedule": 3600.0},
    "email-imap-poll": {
        "task": "channels_hub.email_tasks.poll_email_mailboxes",
        "schedule": float(env_int("EMAIL_IMAP_POLL_SECONDS", 60, minimum=5)),
    },
    "channel-inbox-sweep": {"task": "channels_hub.inbox.sweep_inbox", "schedule": 30.0},
    "whatsapp-template-sync": {
        "task": "channels_hub.template_tasks.sync_all_whatsapp_templates",
        "schedule": 3600.0,
    },
}
DJANGO_CELERY_BEAT_TZ_AWARE = True

# --- auth, i18n, time -----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

LANGUAGE_CODE = env_choice("LANGUAGE_CODE", "zh-hans", {"zh-hans", "en"})
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True
DEFAULT_PHONE_REGION = env_str("DEFAULT_PHONE_REGION", "CN")

# --- static files (served by the app itself: no CDN) ----------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = VAR_DIR / "media"

# --- security headers -----------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- partner API ----------------------------------------------------------------------
API_DEFAULT_RATE_PER_MINUTE = env_int("API_RATE_PER_MINUTE", 1200, minimum=1)
API_EVENT_BATCH_LIMIT = 1000
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "omniservice.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["omniservice.api.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["omniservice.api.throttling.PerClientRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "omniservice.api.pagination.IdCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "omniservice.api.errors.exception_handler",
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "omniservice partner API",
    "DESCRIPTION": "Customers, identities, events and (soon) tickets of an omniservice install.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ContactChannelEnum": "customers.models.ContactChannel",
        "IdentityKindEnum": "customers.models.IdentityKind",
        "EventKindEnum": "customers.models.EventKind",
        "ValueTierEnum": "customers.models.ValueTier",
    },
}

# --- channels (provider adapters) -----------------------------------------------------
# Fernet keys for the providers' credentials at rest, newest first (see channels_hub/secrets.py).
CHANNEL_SECRETS_KEYS = env_list("CHANNEL_SECRETS_KEYS", [])
# Every call to a provider's API has a timeout; a timeout is retried by the outbox.
CHANNEL_HTTP_TIMEOUT_SECONDS = env_int("CHANNEL_HTTP_TIMEOUT_SECONDS", 10, minimum=1)
# Providers that sign a timestamp (WeChat) are refused outside this tolerance (replays).
CHANNEL_WEBHOOK_TOLERANCE_SECONDS = env_int("CHANNEL_WEBHOOK_TOLERANCE_SECONDS", 300, minimum=1)
# The Facebook page / Instagram account has Meta's Human Agent permission: replies may
# leave up to 7 days after the customer's last message, tagged HUMAN_AGENT.
META_HUMAN_AGENT_TAG = env_bool("META_HUMAN_AGENT_TAG", False)
# Email: the SMTP listener (`manage.py smtp_ingress`), IMAP polling and SMTP sending.
SMTP_INGRESS_HOST = env_str("SMTP_INGRESS_HOST", "127.0.0.1")
SMTP_INGRESS_PORT = env_int("SMTP_INGRESS_PORT", 2525, minimum=1)
SMTP_INGRESS_MAX_BYTES = env_int("SMTP_INGRESS_MAX_BYTES", 25 * 1024 * 1024, minimum=1024)
EMAIL_NETWORK_TIMEOUT_SECONDS = env_int("EMAIL_NETWORK_TIMEOUT_SECONDS", 30, minimum=1)
# Web chat widget: messages a visitor may post per minute (5x that per IP address).
WEB_CHAT_MESSAGES_PER_MINUTE = env_int("WEB_CHAT_MESSAGES_PER_MINUTE", 20, minimum=1)

# --- logging --------------------------------------------------------------------------
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR"})
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "mail.log": {"level": "WARNING"},  # aiosmtpd logs every SMTP command at INFO
    },
}

# --- tickets --------------------------------------------------------------------------
TICKET_REOPEN_DAYS = env_int("TICKET_REOPEN_DAYS", 7, minimum=0)
AUTOMATION_WEBHOOK_TIMEOUT_SECONDS = env_int("AUTOMATION_WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)

# --- routing (tickets.routing) ---------------------------------------------------------
# Channel webhooks store verified messages and answer; workers thread them onto tickets
# this many per transaction, for at most this long per task (channels_hub.inbox).
CHANNEL_INBOX_BATCH = env_int("CHANNEL_INBOX_BATCH", 50, minimum=1)
CHANNEL_INBOX_RUN_SECONDS = env_int("CHANNEL_INBOX_RUN_SECONDS", 20, minimum=1)
ROUTING_BATCH_SIZE = env_int("ROUTING_BATCH_SIZE", 200, minimum=1)
ROUTING_RETRY_SECONDS = env_int("ROUTING_RETRY_SECONDS", 60, minimum=1)
ROUTING_RUN_SECONDS = env_int("ROUTING_RUN_SECONDS", 20, minimum=1)
ROUTING_STORE_FIRST_MINUTES = env_int("ROUTING_STORE_FIRST_MINUTES", 10, minimum=0)
ROUTING_DEFAULT_STRATEGY = env_choice(
    "ROUTING_DEFAULT_STRATEGY", "least_loaded", {"least_loaded", "round_robin"}
)

# Where customers reach the public pages (survey links in messages): scheme and host.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
if not PUBLIC_BASE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured("PUBLIC_BASE_URL must start with http:// or https://")

# --- agent console --------------------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/console/"
LOGOUT_REDIRECT_URL = "login"
# Tests on SQLite use a file database (one per test process, so parallel runs never
# collide): the browser tests' live ASGI server runs in another process and must see it.
import os  # noqa: E402

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
