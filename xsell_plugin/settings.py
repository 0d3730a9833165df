"""Settings, read from the environment with django-environ.

Embedded defaults (no variable set): SQLite under ``var/``, django-q2's ORM broker and a local
outbox mailer writing ``.eml`` files to ``var/outbox/``. Production: ``XSELL_ENV=production`` plus
``DATABASE_URL`` (PostgreSQL), ``REDIS_URL``, ``XSELL_SECRET_KEY``, ``XSELL_ENCRYPTION_KEYS`` and
an https ``XSELL_PUBLIC_URL``. Every invalid value stops startup with an ``ImproperlyConfigured``
naming the variable (see ``xsell_plugin.config``).
"""

import warnings
from pathlib import Path

import environ

from xsell_plugin.core import config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("XSELL_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

XSELL_ENV = config.choice(env, "XSELL_ENV", ("development", "production"), "development")
PRODUCTION = XSELL_ENV == "production"
DEBUG = config.boolean(env, "XSELL_DEBUG", default=not PRODUCTION)

SECRET_KEY = config.secret_key(env, production=PRODUCTION)
XSELL_ENCRYPTION_KEYS = config.encryption_keys(env, production=PRODUCTION)
XSELL_PUBLIC_URL = config.public_url(env, production=PRODUCTION)
ALLOWED_HOSTS = config.allowed_hosts(env, XSELL_PUBLIC_URL, production=PRODUCTION)
CSRF_TRUSTED_ORIGINS = [XSELL_PUBLIC_URL]

# Outbound HTTP to loopback/private addresses is refused unless this is on (tests, sandbox).
XSELL_ALLOW_LOOPBACK_HTTP = config.boolean(
    env, "XSELL_ALLOW_LOOPBACK_HTTP", default=not PRODUCTION
)
XSELL_HTTP_TIMEOUT = config.positive_float(env, "XSELL_HTTP_TIMEOUT", default=20.0)

# Platform apps.
XSELL_SHOPIFY_API_KEY = env.str("XSELL_SHOPIFY_API_KEY", default="")
XSELL_SHOPIFY_API_SECRET = env.str("XSELL_SHOPIFY_API_SECRET", default="")
XSELL_SHOPIFY_API_VERSION = env.str("XSELL_SHOPIFY_API_VERSION", default="2026-10")
XSELL_SHOPIFY_ADMIN_BASE_URL = env.str("XSELL_SHOPIFY_ADMIN_BASE_URL", default="")
# Shopify (docs/shopify.md): scopes asked for on authorization-code installs (embedded installs
# take them from shopify.app.toml), the previous secret while rotating it, bulk-poll pacing.
XSELL_SHOPIFY_SCOPES = env.str(
    "XSELL_SHOPIFY_SCOPES",
    default="read_products,read_inventory,read_customers,write_customers,read_orders,"
            "read_all_orders,read_checkouts,write_discounts",
)
XSELL_SHOPIFY_OLD_API_SECRET = env.str("XSELL_SHOPIFY_OLD_API_SECRET", default="")
XSELL_SHOPIFY_BULK_POLL_SECONDS = config.positive_float(
    env, "XSELL_SHOPIFY_BULK_POLL_SECONDS", default=2.0)
XSELL_PLATFORMS = {
    "shopify": "integrations.shopify.platform.ShopifyPlatform",
    "woocommerce": "integrations.woocommerce.platform.WooCommercePlatform",
}
# WooCommerce (docs/woocommerce.md): the name merchants see on the key-granting screen, the
# bounded retry of one REST call (attempts, backoff base and longest sleep, in seconds), and an
# optional customer meta key holding marketing consent (WooCommerce core has none).
XSELL_WOOCOMMERCE_APP_NAME = env.str("XSELL_WOOCOMMERCE_APP_NAME", default="xsell")
XSELL_WOOCOMMERCE_ATTEMPTS = config.positive_int(env, "XSELL_WOOCOMMERCE_ATTEMPTS", default=4)
XSELL_WOOCOMMERCE_RETRY_BACKOFF = config.positive_float(env, "XSELL_WOOCOMMERCE_RETRY_BACKOFF",
                                                        default=1.0)
XSELL_WOOCOMMERCE_MAX_RETRY_SLEEP = config.positive_float(
    env, "XSELL_WOOCOMMERCE_MAX_RETRY_SLEEP", default=30.0)
XSELL_WOOCOMMERCE_CONSENT_META_KEY = env.str("XSELL_WOOCOMMERCE_CONSENT_META_KEY", default="")
# The tenant model every store-owned row points at (core knows no domain, so it is named here).
XSELL_TENANT_MODEL = "stores.Store"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_q",
    "xsell_plugin.core",
    "xsell_plugin.stores",
    "xsell_plugin.catalog",
    "xsell_plugin.customers",
    "xsell_plugin.orders",
    "xsell_plugin.activity",
    "xsell_plugin.dashboard",
    "xsell_plugin.demo",
    "xsell_plugin.offers",
    "xsell_plugin.recommendations",
    "integrations",
    "integrations.shopify",
    "integrations.woocommerce",
    "emails",
    "xsell_plugin.tracking",
    "xsell_plugin.sequences",
    "xsell_plugin.experiments",
    "xsell_plugin.reporting",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves /static/ (the admin's front end) from any server: runserver, gunicorn, xsell_serve.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # After XFrameOptions: Shopify's admin frames /app/ and /auth/shopify/ (CSP frame-ancestors).
    "integrations.shopify.middleware.EmbeddedFrameMiddleware",
]

ROOT_URLCONF = "xsell_plugin.urls"
WSGI_APPLICATION = "xsell_plugin.wsgi.application"
ASGI_APPLICATION = "xsell_plugin.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": config.database(env, VAR_DIR)}
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    # Persistent connections (docs/performance.md): a worker keeps its connection for
    # XSELL_DB_CONN_MAX_AGE seconds. XSELL_DB_HEALTH_CHECKS pings it before each request's first
    # query (one more round trip per request); off, a connection broken by a database restart
    # fails one request per worker (a 500: webhooks are then redelivered) and is replaced.
    DATABASES["default"]["CONN_MAX_AGE"] = config.positive_int(env, "XSELL_DB_CONN_MAX_AGE",
                                                               default=600)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = config.boolean(env, "XSELL_DB_HEALTH_CHECKS",
                                                                default=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A 64 MB page cache per connection (the default 2 MB thrashes on the indexes of a 1M-line
    # backfill) and temporary tables/sorts in memory. Durability is unchanged (WAL, synchronous
    # FULL); a sync job alone relaxes it while it runs (integrations/sync.py).
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["init_command"] = (_options.get("init_command", "").rstrip("; ")
                                + ";PRAGMA cache_size=-65536;PRAGMA temp_store=MEMORY").lstrip(";")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = config.redis_url(env)

# Tasks: django-q2 is a nudge, our rows are the truth (DESIGN.md section 6). timeout < retry
# (retry >= 2 x timeout + 60), finite attempts, no catch-up storm after downtime, no success
# bookkeeping (save_limit -1) and one task per broker fetch.
Q_WORKERS = config.positive_int(env, "XSELL_Q_WORKERS", default=2)
Q_TIMEOUT = 120
Q_CLUSTER = {
    "name": env.str("XSELL_QUEUE_NAME", default="xsell"),
    "workers": Q_WORKERS,
    "timeout": Q_TIMEOUT,
    "retry": 2 * Q_TIMEOUT + 60,
    "max_attempts": 3,
    "catch_up": False,
    "save_limit": -1,
    "bulk": 1,
    "queue_limit": Q_WORKERS,
    "ack_failures": True,
    "label": "Tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 1
# Separate queues for production: tasks go to the "<name>-webhooks", "<name>-sync" and
# "<name>-send" clusters, each run as `Q_CLUSTER_NAME=<name>-<queue> manage.py qcluster`, so a
# webhook storm never delays sends. Off in the embedded default, where one cluster serves all.
XSELL_SEPARATE_QUEUES = config.boolean(env, "XSELL_SEPARATE_QUEUES", default=False)
XSELL_QUEUES = ("webhooks", "sync", "send")
Q_CLUSTER["ALT_CLUSTERS"] = {f"{Q_CLUSTER['name']}-{queue}": {} for queue in XSELL_QUEUES}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if REDIS_URL:
    CACHES["default"] = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}

# Mail: the embedded default keeps every message in a local outbox; stores send through their
# own connected mailer (emails app), never through this backend in production.
XSELL_OUTBOX_DIR = VAR_DIR / "outbox"
EMAIL_BACKEND = env.str("XSELL_EMAIL_BACKEND", default="django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = str(XSELL_OUTBOX_DIR)
# Store emails (docs/emails.md): the send lease, bounded retries with exponential backoff
# (seconds), the SMTP/ESP timeout, how long before the sweeper nudges a due send again, the
# optional open pixel, and the mailbox in List-Unsubscribe's mailto (default unsubscribe@ the
# public host).
XSELL_EMAIL_LEASE_SECONDS = config.positive_int(env, "XSELL_EMAIL_LEASE_SECONDS", default=300)
XSELL_EMAIL_MAX_ATTEMPTS = config.positive_int(env, "XSELL_EMAIL_MAX_ATTEMPTS", default=5)
XSELL_EMAIL_RETRY_BACKOFF = config.positive_float(env, "XSELL_EMAIL_RETRY_BACKOFF", default=60.0)
XSELL_EMAIL_RETRY_MAX_DELAY = config.positive_float(env, "XSELL_EMAIL_RETRY_MAX_DELAY", default=3600.0)
XSELL_EMAIL_SMTP_TIMEOUT = config.positive_float(env, "XSELL_EMAIL_SMTP_TIMEOUT", default=30.0)
XSELL_EMAIL_REQUEUE_AFTER = config.positive_int(env, "XSELL_EMAIL_REQUEUE_AFTER", default=600)
XSELL_EMAIL_OPEN_PIXEL = config.boolean(env, "XSELL_EMAIL_OPEN_PIXEL", default=False)
XSELL_EMAIL_UNSUBSCRIBE_MAILBOX = env.str("XSELL_EMAIL_UNSUBSCRIBE_MAILBOX", default="")
# Benchmark suites of `manage.py xsell_bench <suite>`, by import string (core knows no domain).
XSELL_BENCH_SUITES = {"emails": "emails.bench.run"}
# Ingestion (docs/performance.md) and `xsell_bench all` (every suite, section 7 side by side).
XSELL_BENCH_SUITES["webhooks"] = "integrations.bench.webhooks"
XSELL_BENCH_SUITES["backfill"] = "integrations.bench.backfill"
XSELL_BENCH_SUITES["recs"] = "xsell_plugin.recommendations.bench.run"
XSELL_BENCH_SUITES["all"] = "xsell_plugin.core.bench.run_all"
# Sequences (docs/sequences.md): the dispatcher's claim batch, the lease of a claimed send (its
# task is enqueued again after that), how far back a trigger scan looks after downtime, and the
# content builder of a step (recommendations and incentive picked at send time).
# The holdout share of every sequence whose store sets none (docs/measurement.md).
XSELL_HOLDOUT_SHARE = config.share(env, "XSELL_HOLDOUT_SHARE", default="0.10", maximum="0.5")
XSELL_SEQUENCE_CLAIM_BATCH = config.positive_int(env, "XSELL_SEQUENCE_CLAIM_BATCH", default=1000)
XSELL_SEQUENCE_LEASE_SECONDS = config.positive_int(env, "XSELL_SEQUENCE_LEASE_SECONDS", default=300)
XSELL_SEQUENCE_MAX_CATCH_UP_HOURS = config.positive_int(env, "XSELL_SEQUENCE_MAX_CATCH_UP_HOURS",
                                                        default=24)
XSELL_SEQUENCE_TIMED_SCAN_MINUTES = config.positive_int(env, "XSELL_SEQUENCE_TIMED_SCAN_MINUTES",
                                                        default=60)
XSELL_SEQUENCE_CONTENT = "xsell_plugin.sequences.content.step_content"
XSELL_BENCH_SUITES["dispatch"] = "xsell_plugin.sequences.bench.run"
XSELL_PLATFORMS["demo"] = "xsell_plugin.demo.simulation.DemoPlatform"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
# WhiteNoise serves STATIC_ROOT (filled by `manage.py collectstatic` on deploy); outside production
# it also serves straight from the finders, so `make run` and the browser tests need no collectstatic.
WHITENOISE_USE_FINDERS = not PRODUCTION
# Before the first collectstatic there is no STATIC_ROOT; the finders serve meanwhile.
warnings.filterwarnings("ignore", message=r"No directory at: .*static", category=UserWarning)

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "xsell_plugin.core.exceptions.api_exception_handler",
    # Each sets request.auth to the merchant's Store. Platforms add theirs here (by import
    # string, so the dashboard never imports a platform).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "xsell_plugin.dashboard.auth.StoreSessionAuthentication",
        "integrations.shopify.auth.ShopifySessionTokenAuthentication",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "xsell API",
    "DESCRIPTION": "The embedded admin's API: sequences, offers, experiments and reports.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
}

if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = config.boolean(env, "XSELL_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
# The app pages are framed by Shopify admin; their views set CSP frame-ancestors per shop.
SESSION_COOKIE_SAMESITE = "None" if PRODUCTION else "Lax"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("XSELL_LOG_LEVEL", default="INFO")},
    "loggers": {"django_q": {"level": "WARNING"}, "django-q": {"level": "WARNING"}},
}
