"""Settings shared by both roles. Secrets come from the environment; see settings/environment.py."""
from __future__ import annotations

import math
import os

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from settings.environment import BASE_DIR, VAR_DIR, demo_mode, env_flag, env_list, secret  # noqa: F401 (BASE_DIR is a setting)

SECRET_KEY, SECRET_KEY_IS_DEMO = secret("DJANGO_SECRET_KEY", "django-secret-key", nbytes=48)
DEBUG = env_flag("KUNCI_DEBUG")
ALLOWED_HOSTS = env_list("KUNCI_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outermost but one, so that every answer carries the policy, errors raised in middleware too.
    "settings.csp.ContentSecurityPolicyMiddleware",
    # Static files answer here, before sessions or CSRF run (see "Browser stack" below).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Django's LocaleMiddleware, with the JSON API kept in English (see "Languages" below); after
    # sessions and before CommonMiddleware, where Django's documentation places it.
    "settings.languages.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    # DRF's views are csrf_exempt (bearer tokens are not ambient credentials); the browser pages
    # and the admin, which use the session cookie, are protected by it.
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

WSGI_APPLICATION = "settings.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
# Every path works with and without a trailing slash through its own pattern; no redirects.
APPEND_SLASH = False

# 64 KB: an identity API never needs more. Bigger bodies get 413 before anything parses them.
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 100


def _seconds(name: str, default: float) -> float:
    """Return environment variable `name` as a non-negative number of seconds."""
    value = float(os.environ.get(name) or default)
    if value < 0:
        raise ImproperlyConfigured(f"{name} must be a non-negative number of seconds, got {value}")
    return value


def database(default_sqlite_name: str) -> dict:
    """Return the `default` database: DATABASE_URL when set, else SQLite under var/."""
    # A test database per process, so that concurrent test runs (two checkouts, a benchmark)
    # never delete each other's.
    test_name = f"test_{default_sqlite_name.removesuffix('.sqlite3').replace('-', '_')}_{os.getpid()}"
    url = os.environ.get("DATABASE_URL")
    if url:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
        if config["ENGINE"] == "django.db.backends.postgresql":
            config["ENGINE"] = "settings.postgresql"
            # Options in DATABASE_URL's query string win over these defaults.
            config["OPTIONS"] = {**postgresql_options(), **config.get("OPTIONS", {})}
        return {**config, "TEST": {"NAME": test_name}}
    VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / default_sqlite_name,
        "OPTIONS": {
            # IMMEDIATE takes the write lock when a transaction begins, so concurrent writers
            # queue on the busy timeout instead of failing with "database is locked" mid-way.
            "transaction_mode": "IMMEDIATE",
            # The busy timeout: how long a statement waits for another writer's lock (20 s when
            # KUNCI_DB_STATEMENT_TIMEOUT is 0).
            "timeout": _seconds("KUNCI_DB_STATEMENT_TIMEOUT", 5) or 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
        "TEST": {"NAME": VAR_DIR / f"{test_name}.sqlite3"},
    }


def postgresql_options() -> dict:
    """Return the libpq options that bound every wait on PostgreSQL (0 disables a timeout).

    README.md ("Timeouts and health endpoints") documents each variable.
    """
    connect = _seconds("KUNCI_DB_CONNECT_TIMEOUT", 3)
    statement = _seconds("KUNCI_DB_STATEMENT_TIMEOUT", 5)
    options: dict = {
        # libpq rounds up to whole seconds, 2 at least.
        "connect_timeout": max(2, math.ceil(connect)) if connect else 0,
        # Keepalives find a dead peer of an idle pooled connection before a request waits on it.
        "keepalives": 1,
        "keepalives_idle": math.ceil(_seconds("KUNCI_DB_KEEPALIVES_IDLE", 10)),
        "keepalives_interval": math.ceil(_seconds("KUNCI_DB_KEEPALIVES_INTERVAL", 5)),
        "keepalives_count": int(_seconds("KUNCI_DB_KEEPALIVES_COUNT", 3)),
    }
    if statement:
        # The server cancels a statement that runs longer; the client gives up one second later,
        # when even the cancellation has not come back (a stalled or partitioned link).
        options["options"] = f"-c statement_timeout={int(statement * 1000)}"
        options["client_timeout"] = statement + 1
    return options


# Redis is optional: it shares throttling counters (and caches) between processes and replicas.
if os.environ.get("KUNCI_CACHE_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["KUNCI_CACHE_URL"],
            "KEY_PREFIX": os.environ.get("KUNCI_CACHE_PREFIX", "kunci"),
            # redis-py waits without limit by default; a stalled Redis must fail fast instead.
            "OPTIONS": {
                "socket_connect_timeout": _seconds("KUNCI_CACHE_CONNECT_TIMEOUT", 0.5) or None,
                "socket_timeout": _seconds("KUNCI_CACHE_TIMEOUT", 1) or None,
            },
        }
    }

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's parsers, refusing JSON nested past 32 levels and forms of too many fields with a 400.
    "DEFAULT_PARSER_CLASSES": [
        "relying_party.parsers.JSONParser",
        "relying_party.parsers.FormParser",
    ],
    "UNAUTHENTICATED_USER": None,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"without_traceback": {"()": "relying_party.logfilters.WithoutTraceback"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "console_without_traceback": {
            "class": "logging.StreamHandler", "formatter": "plain", "filters": ["without_traceback"],
        },
    },
    "loggers": {
        # Every refused request (a bad Host header, say) is one line, not a traceback.
        "django.security": {"handlers": ["console_without_traceback"], "propagate": False},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("KUNCI_LOG_LEVEL", "INFO")},
}

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Production (no KUNCI_DEMO) is served over HTTPS: redirect plain HTTP and send HSTS. Behind a
# TLS-terminating proxy, set KUNCI_TRUSTED_PROXY to the proxy's address: Kunci's server
# (settings/worker.py) then takes the scheme and client address from that proxy's X-Forwarded-Proto
# and X-Forwarded-For, and strips those headers from everyone else.
_https = env_flag("KUNCI_HTTPS", default=not demo_mode())
SECURE_SSL_REDIRECT = _https
SECURE_HSTS_SECONDS = int(os.environ.get("KUNCI_HSTS_SECONDS", 31536000)) if _https else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = _https
SECURE_HSTS_PRELOAD = _https
SESSION_COOKIE_SECURE = _https
CSRF_COOKIE_SECURE = _https

# --- Languages -------------------------------------------------------------------------------------

# The pages people read speak English, Indonesian, Russian or Korean; the JSON API speaks English,
# its machine contract (settings/languages.py says which language answers a request). The issuer's
# and the demo apps' pages share one catalogue per language under locale/: they share the layout and
# many strings ("Sign in", "Sign out"), and Django merges all catalogues of a language into one
# anyway, so per-app catalogues would only let one string's translations drift apart. The compiled
# .mo files are committed beside their .po files (tests/i18n check that they match): serving Kunci
# needs no gettext tools, only `make messages` does.
LANGUAGE_CODE = "en"
USE_I18N = True
LANGUAGES = [("en", "English"), ("id", "Bahasa Indonesia"), ("ru", "Русский"), ("ko", "한국어")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The switcher's choice (Django's set_language view) lasts a year; no script reads it. Each service
# names the cookie itself, as it does its session cookie.
LANGUAGE_COOKIE_AGE = 365 * 24 * 60 * 60
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = _https

# --- Browser stack: sessions, CSRF, templates, static files, Content-Security-Policy ---------------

# Browsers do not separate cookies by port (RFC 6265 §8.5): the issuer and the demo apps on one host
# would overwrite each other's `sessionid` and `csrftoken`. Each service names its own cookies
# (settings/idp.py, settings/rp.py); these are the flags they all share.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# The shared layout (kunci/base.html) and its stylesheet live at the project level, so that the
# issuer's pages and the demo apps' pages extend one template; each app adds its own under APP_DIRS.
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
            ],
        },
    }
]
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# WhiteNoise serves static files from every process, in production too, straight from the apps'
# static directories (Django's finders, scanned once at start). There is no collectstatic step for
# `make run`, the tests or a deployment to forget: the files are the admin's and one stylesheet,
# a few hundred KB, so hashed names and precompression (which need collectstatic and a manifest
# that breaks every page when missing) would buy nothing worth that step. They are cached for
# WhiteNoise's default 60 s.
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True

# Django 5.2 has no Content-Security-Policy; settings/csp.py sends this one, in the shape of
# Django 6.0's SECURE_CSP so that upgrading means deleting that middleware. No inline script or
# style, nothing from elsewhere, no framing (with X-Frame-Options: DENY for older browsers).
# `form-action` is left out on purpose: the sign-in and consent forms end in a redirect to the
# client's redirect_uri, and browsers apply form-action to that redirect too.
SECURE_CSP = {
    # Scripts, styles, images, fonts and fetches from this origin only; inline ones are refused.
    "default-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"],
}
