"""Slotwise settings — everything that differs between machines comes from the environment.

See `.env.example` for every variable and `docs/operator-guide.md` for what each one does.
"""

import os
from pathlib import Path

import dj_database_url
import environ
import structlog

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# A development key only when DEBUG is on; production must set SECRET_KEY (check --deploy says so).
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG and not env.bool("SLOTWISE_TESTING", default=False):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-0123456789abcdef"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rules.apps.AutodiscoverRulesConfig",
    "simple_history",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_htmx",
    "channels",
    "django_tasks_db",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.facebook",
    "allauth.socialaccount.providers.twitter_oauth2",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.mfa",
    "django_structlog",
    # Slotwise
    "slotwise.core",
    "slotwise.accounts",
    "slotwise.org",
    "slotwise.customers",
    "slotwise.messaging",
    "slotwise.scheduling",
    "slotwise.bookings",
    "slotwise.payments",
    "slotwise.onboarding",
    "slotwise.workorders",
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
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
]

ROOT_URLCONF = "slotwise.urls"
ASGI_APPLICATION = "slotwise.asgi.application"
WSGI_APPLICATION = "slotwise.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "slotwise" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "slotwise.core.context_processors.navigation",
            ],
        },
    }
]

# --- Database -------------------------------------------------------------------------------
# PostgreSQL in production, CI and benchmarks; an embedded SQLite file is the zero-setup default.
# An empty DATABASE_URL means the same as none: the embedded SQLite file.
DATABASE_URL = (
    env.str("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'var' / 'slotwise.sqlite3'}"
)
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env.int("DB_CONN_MAX_AGE", default=0)
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    (BASE_DIR / "var").mkdir(exist_ok=True)
    # Immediate transactions: writers take the lock up front, so two bookings can't interleave.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
# Under ASGI every request runs in a context of its own, so persistent connections
# (DB_CONN_MAX_AGE) are not reused there: serve with a per-process psycopg pool instead
# (DB_POOL_MAX_SIZE > 0; the web processes of the benchmarks and production use it).
if IS_POSTGRES and env.int("DB_POOL_MAX_SIZE", default=0) > 0:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DB_POOL_MAX_SIZE"),
        "timeout": env.int("DB_POOL_TIMEOUT", default=10),
    }
# Server-side parameter binding with prepared statements (psycopg: a statement run
# DB_PREPARE_THRESHOLD times on a connection is prepared, so PostgreSQL skips parse and plan;
# bench booking_http: PostgreSQL CPU per booking 5.5 -> 3.8 ms, server 14.1 -> 12.8 ms).
# Set DB_SERVER_SIDE_BINDING=0 behind a PgBouncer in transaction mode older than 1.21.
if IS_POSTGRES and env.bool("DB_SERVER_SIDE_BINDING", default=True):
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=env.int("DB_PREPARE_THRESHOLD", default=2)
    )

# --- Cache, channels ------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if REDIS_URL and env.bool("SLOTWISE_TESTING", default=False) and _XDIST_WORKER.startswith("gw"):
    # Parallel test processes each get a Redis database of their own (gw0 → 1, gw1 → 2 …), so
    # one process clearing its cache (rate limits, the test payment provider's remote payments)
    # never wipes another's in the middle of a test.
    from urllib.parse import urlsplit, urlunsplit

    _parts = urlsplit(REDIS_URL)
    _db = 1 + int(_XDIST_WORKER[2:] or 0) % 15
    REDIS_URL = urlunsplit(_parts._replace(path=f"/{_db}"))
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    # One process (make demo without Redis): the database cache is shared by web and worker.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "slotwise_cache",
            # Django culls a third of the entries past 300 by default; the demo's test payment
            # provider keeps its "remote" payments here, which must not vanish.
            "OPTIONS": {"MAX_ENTRIES": 1_000_000},
        }
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# The messaging pump (inbound events, the outbox) runs in the workers, which publish live
# updates through Redis. `make demo` runs it in the web process instead (MESSAGING_PUMP_IN_WEB=1,
# `worker --no-messaging`): without Redis the channel layer is that process's memory, and only
# events published there reach the browsers (slotwise/asgi.py, docs/architecture.md).
MESSAGING_PUMP_IN_WEB = env.bool("MESSAGING_PUMP_IN_WEB", default=False)
# An outgoing message claimed by a worker that died is claimed again (and re-sent with its
# idempotency key) after this many seconds (slotwise/messaging/outbox.py).
MESSAGING_CLAIM_LEASE_SECONDS = env.int("MESSAGING_CLAIM_LEASE_SECONDS", default=120)
# Provider calls in flight at once per worker (the outbox's sending threads; one recipient's
# messages always go in order on one of them).
MESSAGING_SEND_THREADS = env.int("MESSAGING_SEND_THREADS", default=8)
# The inbox flags a contact's wait red after this many minutes without an answer.
MESSAGING_WAITING_ALERT_MINUTES = env.int("MESSAGING_WAITING_ALERT_MINUTES", default=15)
# notify(): the media tried after the contact's preferred one (slotwise/messaging/notify.py).
MESSAGING_FALLBACK_CHAIN = env.list(
    "MESSAGING_FALLBACK_CHAIN",
    default=["whatsapp", "telegram", "viber", "instagram", "phone", "email"],
)
# Attachments in and out: at most this size (the channel's own limit may be lower).
MESSAGING_MAX_MEDIA_BYTES = env.int("MESSAGING_MAX_MEDIA_BYTES", default=16 * 1024 * 1024)
# Largest photo a technician may upload to a work order (S2.8); it is re-encoded and scaled down.
WORKORDER_PHOTO_MAX_BYTES = env.int("WORKORDER_PHOTO_MAX_BYTES", default=15 * 1024 * 1024)

# --- Background tasks -----------------------------------------------------------------------
TASKS = {
    "default": {
        "BACKEND": env.str("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default", "messages"],
    }
}
WORKER_HEARTBEAT_MAX_AGE = env.int("WORKER_HEARTBEAT_MAX_AGE", default=120)

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "rules.permissions.ObjectPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

ACCOUNT_ADAPTER = "slotwise.accounts.adapter.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "slotwise.accounts.adapter.SocialAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "optional"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "reset_password": "20/m/ip,5/m/key",
}
SOCIALACCOUNT_AUTO_SIGNUP = True
# S0.6: sign-up with a social account needs no form, even when the provider (X) gives no e-mail.
SOCIALACCOUNT_EMAIL_REQUIRED = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_LOGIN_ON_GET = False
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Slotwise"

# --- Integrations: one *_ENABLED flag each; secrets only from the environment ---------------
FACEBOOK_ENABLED = env.bool("FACEBOOK_ENABLED", default=False)
FACEBOOK_CLIENT_ID = env.str("FACEBOOK_CLIENT_ID", default="")
FACEBOOK_SECRET = env.str("FACEBOOK_SECRET", default="")
FACEBOOK_GRAPH_URL = env.str("FACEBOOK_GRAPH_URL", default="")  # override for a local fake
TWITTER_ENABLED = env.bool("TWITTER_ENABLED", default=False)
TWITTER_CLIENT_ID = env.str("TWITTER_CLIENT_ID", default="")
TWITTER_SECRET = env.str("TWITTER_SECRET", default="")
LINKEDIN_ENABLED = env.bool("LINKEDIN_ENABLED", default=False)
LINKEDIN_CLIENT_ID = env.str("LINKEDIN_CLIENT_ID", default="")
LINKEDIN_SECRET = env.str("LINKEDIN_SECRET", default="")
LINKEDIN_SERVER_URL = env.str("LINKEDIN_SERVER_URL", default="https://www.linkedin.com/oauth")
SMS_PROVIDER = env.str("SMS_PROVIDER", default="console")
TWILIO_ENABLED = env.bool("TWILIO_ENABLED", default=False)
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM = env.str("TWILIO_FROM", default="")
TWILIO_API_URL = env.str("TWILIO_API_URL", default="https://api.twilio.com")
OSRM_ENABLED = env.bool("OSRM_ENABLED", default=False)
OSRM_URL = env.str("OSRM_URL", default="")

# Which integration flags need which secrets; slotwise.core.checks warns about gaps.
INTEGRATION_SECRETS = {
    "FACEBOOK_ENABLED": ["FACEBOOK_CLIENT_ID", "FACEBOOK_SECRET"],
    "TWITTER_ENABLED": ["TWITTER_CLIENT_ID", "TWITTER_SECRET"],
    "LINKEDIN_ENABLED": ["LINKEDIN_CLIENT_ID", "LINKEDIN_SECRET"],
    "TWILIO_ENABLED": ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM"],
    "OSRM_ENABLED": ["OSRM_URL"],
}

SOCIALACCOUNT_PROVIDERS = {}
if FACEBOOK_ENABLED:
    SOCIALACCOUNT_PROVIDERS["facebook"] = {
        "METHOD": "oauth2",
        "SCOPE": ["email", "public_profile"],
        "APPS": [{"client_id": FACEBOOK_CLIENT_ID, "secret": FACEBOOK_SECRET}],
    }
    if FACEBOOK_GRAPH_URL:  # a local Graph API (tests, demo) instead of Facebook's
        SOCIALACCOUNT_PROVIDERS["facebook"]["GRAPH_API_URL"] = FACEBOOK_GRAPH_URL
if TWITTER_ENABLED:
    SOCIALACCOUNT_PROVIDERS["twitter_oauth2"] = {
        "APPS": [{"client_id": TWITTER_CLIENT_ID, "secret": TWITTER_SECRET}],
    }
if LINKEDIN_ENABLED:
    SOCIALACCOUNT_PROVIDERS["openid_connect"] = {
        "APPS": [
            {
                "provider_id": "linkedin",
                "name": "LinkedIn",
                "client_id": LINKEDIN_CLIENT_ID,
                "secret": LINKEDIN_SECRET,
                "settings": {"server_url": LINKEDIN_SERVER_URL},
            }
        ]
    }

# --- E-mail ---------------------------------------------------------------------------------
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if not DEBUG
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="127.0.0.1")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Slotwise <noreply@slotwise.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Languages, time ------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("sv", "Svenska"), ("ru", "Русский"), ("nl", "Nederlands")]
LOCALE_PATHS = [BASE_DIR / "slotwise" / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [
    BASE_DIR / "slotwise" / "static",
    BASE_DIR / "node_modules" / "htmx.org" / "dist",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and not env.bool("SLOTWISE_TESTING", default=False)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG or env.bool("SLOTWISE_TESTING", default=False)
MEDIA_ROOT = BASE_DIR / "var" / "media"
MEDIA_URL = "/media/"

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "slotwise.core.api.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "slotwise.core.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Slotwise API",
    "DESCRIPTION": "Appointments, availability and the option generator.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- Security (production values when DEBUG is off; check --deploy is clean) ----------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The test client speaks plain HTTP: no redirect to https while testing.
SECURE_SSL_REDIRECT = env.bool(
    "SECURE_SSL_REDIRECT", default=not DEBUG and not env.bool("SLOTWISE_TESTING", default=False)
)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# --- Logging: structured (JSON lines in production, key=value on a terminal) ----------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_JSON = env.bool("LOG_JSON", default=not DEBUG)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structured": {
            "()": structlog.stdlib.ProcessorFormatter,
            "processor": structlog.processors.JSONRenderer()
            if LOG_JSON
            else structlog.dev.ConsoleRenderer(colors=False),
            "foreign_pre_chain": [
                structlog.processors.TimeStamper(fmt="iso"),
                structlog.stdlib.add_log_level,
            ],
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django_structlog": {"level": "WARNING" if not DEBUG else "INFO"},
    },
}
structlog.configure(
    # The level filter first: an event below the level (every request's request_started and
    # request_finished at INFO) is dropped before the request's context is merged into it.
    processors=[
        structlog.stdlib.filter_by_level,
        structlog.contextvars.merge_contextvars,
        structlog.processors.TimeStamper(fmt="iso"),
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ],
    logger_factory=structlog.stdlib.LoggerFactory(),
    cache_logger_on_first_use=True,
)

# --- Slotwise -------------------------------------------------------------------------------
SMS_CODE_TTL_SECONDS = 600
SMS_CODE_MAX_FAILURES = 5
SMS_CODE_LOCK_SECONDS = 15 * 60
SMS_CODE_SEND_LIMIT_PER_NUMBER = env.str("SMS_CODE_SEND_LIMIT_PER_NUMBER", default="3/10m")
SMS_CODE_SEND_LIMIT_PER_IP = env.str("SMS_CODE_SEND_LIMIT_PER_IP", default="10/10m")
GEOCODER = env.str("GEOCODER", default="postcode_centroid")
TRAVEL_SOURCE = env.str("TRAVEL_SOURCE", default="great_circle")
PWA_NAME = "Slotwise"
# Public booking page (bookings.views): who may frame the embedded page (CSP frame-ancestors;
# "*" = any site, or a list of origins such as https://www.example.com), and booking attempts
# per client IP.
EMBED_ALLOWED_ORIGINS = env.list("EMBED_ALLOWED_ORIGINS", default=["*"])
PUBLIC_BOOKING_RATE_LIMIT = env.str("PUBLIC_BOOKING_RATE_LIMIT", default="10/10m")
# Requests per client IP on the public work-request form (S2.1).
WORKORDER_REQUEST_RATE_LIMIT = env.str("WORKORDER_REQUEST_RATE_LIMIT", default="5/10m")
# YooKassa notifications are accepted from YooKassa's documented networks plus these (CIDRs, e.g.
# 127.0.0.1/32 for the local fake); see payments/providers/yookassa.
PAYMENTS_YOOKASSA_EXTRA_NETWORKS = env.list("PAYMENTS_YOOKASSA_EXTRA_NETWORKS", default=[])
