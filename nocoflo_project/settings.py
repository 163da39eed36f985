"""Nocoflo settings, read from the environment (and an optional `.env` file) by django-environ.

Every setting a deployment may change is documented in README.md with its default.
"""

from pathlib import Path

import environ

from core.database import database_config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Nocoflo's own files (metadata database, demo database, generated secret) live here.
DATA_DIR = Path(env.str("NOCOFLO_DATA_DIR", default=str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in the data directory."""
    # Read as it is: django-environ takes a value starting with "$" for the name of another
    # variable, and Django's own generator starts one key in fifty with "$".
    key = env.ENVIRON.get("SECRET_KEY", "")
    if key:
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        from django.core.management.utils import get_random_secret_key

        path.write_text(get_random_secret_key())
        path.chmod(0o600)
    return path.read_text().strip()


# Keys no deployment may sign sessions with: placeholders copied from examples.
_PLACEHOLDER_SECRET_KEYS = {"changeme", "change-me", "change_me", "secret", "secret-key", "xxx"}


def _refuse_weak_secret_key(key: str, debug: bool) -> None:
    """With DEBUG off, stop start-up on a key that anyone could guess.

    A key is weak when it is shorter than 50 characters, has fewer than 5 different characters,
    starts with "django-insecure" or is a known placeholder (Django's own `check --deploy` rule,
    plus placeholders). A key Nocoflo generated into the data directory is always strong.
    """
    if debug:
        return
    weak = (
        len(key) < 50
        or len(set(key)) < 5
        or key.startswith("django-insecure")
        or key.strip().lower() in _PLACEHOLDER_SECRET_KEYS
    )
    if weak:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "SECRET_KEY is not a real secret (it must have at least 50 characters, 5 of them "
            "different, and not start with 'django-insecure'). Set a long random SECRET_KEY, e.g. "
            "python -c 'from django.core.management.utils import get_random_secret_key as k; "
            "print(k())', or unset it to have Nocoflo generate one into "
            f"{DATA_DIR / 'secret_key'}; DEBUG=true allows any key."
        )


DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = _secret_key()
_refuse_weak_secret_key(SECRET_KEY, DEBUG)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "core",
    "plugins_app",
    "datasources_app",
    "views_app",
    "nocoflo_project",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "nocoflo_project.middleware.refuse_nul_parameters",
    "core.metadata_cache.per_request",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "core.auth.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "nocoflo_project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "nocoflo_project" / "templates"],
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

ASGI_APPLICATION = "nocoflo_project.asgi.application"

# SQLite (the default), PostgreSQL or MySQL/MariaDB; core/database.py adds each
# backend's options (SQLite WAL, MySQL utf8mb4 and strict mode) and the test database's name.
DATABASES = {
    "default": database_config(
        env.str("DATABASE_URL", default="") or f"sqlite:///{DATA_DIR / 'nocoflo.sqlite3'}"
    ),
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
SESSION_COOKIE_AGE = env.int("NOCOFLO_SESSION_AGE", default=14 * 24 * 3600)
# Session and CSRF cookies travel over HTTPS only, unless DEBUG is on. Serving plain http (a
# local `manage.py serve`) needs NOCOFLO_SECURE_COOKIES=false, which scripts/run sets.
SESSION_COOKIE_SECURE = env.bool("NOCOFLO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
# Pages may not be framed by other sites (NiceGUI needs no frames); no MIME-type sniffing.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Behind a proxy that ends TLS (see README, Production): the proxy's X-Forwarded-Proto tells Django
# a request came over https; redirect plain http to https; Strict-Transport-Security (HSTS).
if env.bool("NOCOFLO_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("NOCOFLO_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers check health over plain http
SECURE_HSTS_SECONDS = env.int("NOCOFLO_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("NOCOFLO_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("NOCOFLO_HSTS_PRELOAD", default=False)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(DATA_DIR / "static"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("NOCOFLO_LOG_LEVEL", default="INFO")},
    "loggers": {"sqlalchemy": {"level": "WARNING"}},
}

# --- Nocoflo -------------------------------------------------------------------------------

# Plugins (the architecture document's PLUGIN_CONFIG): third-party plugins found through entry
# points or plugin directories start disabled unless they are named here.
NOCOFLO_ENABLED_PLUGINS = env.list("NOCOFLO_ENABLED_PLUGINS", default=[])
NOCOFLO_PLUGIN_DIRS = env.list("NOCOFLO_PLUGIN_DIRS", default=[])
# The built-in plugins to load (module paths); default: all of them. The table view and the
# SQLite datasource are always loaded.
NOCOFLO_BUILTIN_PLUGINS = env.list("NOCOFLO_BUILTIN_PLUGINS", default=[])
# Seconds a call into a third-party datasource plugin may take before the page gives up on it
# (the built-in SQL datasources stop their statements after NOCOFLO_STATEMENT_TIMEOUT instead).
NOCOFLO_PLUGIN_CALL_TIMEOUT = env.float("NOCOFLO_PLUGIN_CALL_TIMEOUT", default=30.0)
# How often each server process applies plugin changes made in the admin of another process and
# records its plugins' health and call counts.
NOCOFLO_PLUGIN_SYNC_SECONDS = env.float("NOCOFLO_PLUGIN_SYNC_SECONDS", default=2.0)
# Worker threads of one server process for Django's requests, each on a database connection it
# keeps; as many requests run at once, more wait their turn (nocoflo_project/asgi.py). The API's
# requests but exports and imports: few, as more only contend for Python's GIL.
NOCOFLO_API_THREADS = env.int("NOCOFLO_API_THREADS", default=4)
# Exports and imports, which may stream for minutes, and the admin, sign-in and static files.
NOCOFLO_LONG_THREADS = env.int("NOCOFLO_LONG_THREADS", default=8)
# Load a plugin directory's file again when it changes (`manage.py serve --reload-plugins`).
NOCOFLO_RELOAD_PLUGINS = env.bool("NOCOFLO_RELOAD_PLUGINS", default=False)
# Set by `manage.py serve`: the server process runs the plugin watcher (tests do not).
NOCOFLO_WATCH_PLUGINS = env.bool("NOCOFLO_WATCH_PLUGINS", default=False)
# Make a plugin that fails to load fatal instead of logging it (used by tests).
NOCOFLO_STRICT_PLUGINS = env.bool("NOCOFLO_STRICT_PLUGINS", default=False)
# Which view a table opens in (the architecture document's view_selection_strategy): auto (the
# user's last choice, else the best view for the table), priority (always the best view), manual
# (the user's last choice, else the table view). Any other value fails the system checks.
NOCOFLO_VIEW_SELECTION = env.str("NOCOFLO_VIEW_SELECTION", default="auto")

# Key for datasource passwords at rest (a Fernet key); derived from SECRET_KEY when empty.
NOCOFLO_ENCRYPTION_KEY = env.str("NOCOFLO_ENCRYPTION_KEY", default="")

# Time limits for the user's databases, in seconds.
NOCOFLO_CONNECT_TIMEOUT = env.float("NOCOFLO_CONNECT_TIMEOUT", default=5.0)
NOCOFLO_STATEMENT_TIMEOUT = env.float("NOCOFLO_STATEMENT_TIMEOUT", default=10.0)

# Demo database built by `manage.py setup_demo`.
NOCOFLO_DEMO_DB = Path(env.str("NOCOFLO_DEMO_DB", default=str(DATA_DIR / "demo.sqlite3")))
NOCOFLO_DEMO_ORDERS = env.int("NOCOFLO_DEMO_ORDERS", default=1_000_000)

# The largest CSV file a table import accepts, in megabytes.
NOCOFLO_IMPORT_MAX_MB = env.int("NOCOFLO_IMPORT_MAX_MB", default=50)

# Collaboration: how long an editor's row lock lasts without renewal (pages renew it while a
# cell or form is open), and the event bus that carries live updates and presence. Empty: in this
# process only; redis://host:6379/0 shares them between several server processes.
NOCOFLO_LOCK_SECONDS = env.int("NOCOFLO_LOCK_SECONDS", default=60)
NOCOFLO_EVENT_BUS_URL = env.str("NOCOFLO_EVENT_BUS_URL", default="")

# Sign-in throttling (core/throttle.py), counted in the metadata database so every server process
# shares it: an account is locked after NOCOFLO_SIGNIN_MAX_FAILURES failed sign-ins within
# NOCOFLO_SIGNIN_LOCK_MINUTES, an address after NOCOFLO_SIGNIN_MAX_FAILURES_PER_ADDRESS; either
# stays locked for NOCOFLO_SIGNIN_LOCK_MINUTES.
NOCOFLO_SIGNIN_MAX_FAILURES = env.int("NOCOFLO_SIGNIN_MAX_FAILURES", default=5)
NOCOFLO_SIGNIN_MAX_FAILURES_PER_ADDRESS = env.int(
    "NOCOFLO_SIGNIN_MAX_FAILURES_PER_ADDRESS", default=20
)
NOCOFLO_SIGNIN_LOCK_MINUTES = env.int("NOCOFLO_SIGNIN_LOCK_MINUTES", default=15)
# Proxies whose X-Forwarded-For is believed: the client's address is then its first hop.
# Empty: the address is always the connection's (REMOTE_ADDR).
NOCOFLO_TRUSTED_PROXIES = env.list("NOCOFLO_TRUSTED_PROXIES", default=[])

# Email, for invites. NOCOFLO_EMAIL_URL as django-environ reads it: smtp+tls://user:pw@host:587,
# smtp+ssl://..., consolemail:// (the default: messages are printed to the log, not sent).
# An SMTP server that never answers must not hold a request forever: ?timeout=<seconds>, else 10.
_email = env.email_url("NOCOFLO_EMAIL_URL", default="consolemail://")
_email_options = _email.pop("OPTIONS", {})
vars().update({name: value for name, value in _email.items() if value not in (None, "")})
EMAIL_TIMEOUT = _email_options.get("TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env.str("NOCOFLO_FROM_EMAIL", default="Nocoflo <nocoflo@localhost>")
