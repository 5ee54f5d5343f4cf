"""Django settings for Baomi, read from `BAOMI_*` environment variables.

Safe defaults: DEBUG off, loopback-only hosts, SQLite in WAL mode under the data
directory, Argon2 passwords, strict CSP. See README "Configuration" for every variable.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from csp.constants import NONE, SELF

from baomi import config

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = config.ensure_data_dir()

SECRET_KEY = os.environ.get("BAOMI_SECRET_KEY") or config.read_secret_key(DATA_DIR)
DEBUG = config.env_bool("BAOMI_DEBUG")
ALLOWED_HOSTS = config.env_list("BAOMI_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
HTTPS = config.env_bool("BAOMI_HTTPS")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "csp",
    "baomi.core",
    "baomi.accounts",
    "baomi.clients",
    "baomi.vault",
    "baomi.audit",
    "baomi.access",
    "baomi.classification",
    "baomi.imports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "baomi.core.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "baomi.access.context.AccessContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "baomi.accounts.middleware.SessionPolicyMiddleware",
    "baomi.core.middleware.BaomiErrorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "baomi.urls"
WSGI_APPLICATION = "baomi.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "core:dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"

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
                "baomi.core.context_processors.baomi",
            ],
        },
    }
]

# --- Database -------------------------------------------------------------------------
_database_url = os.environ.get("BAOMI_DATABASE_URL", "").strip()
if _database_url:
    import dj_database_url

    DATABASES = {
        "default": dj_database_url.parse(_database_url, conn_max_age=60, conn_health_checks=True)
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "baomi.sqlite3"),
            "OPTIONS": {
                # WAL lets readers proceed during writes; synchronous=FULL makes every
                # commit durable (the audit ledger promises durable appends). Server
                # processes keep the WAL file (baomi/core/walkeeper.py): after a big
                # write it is cut back to 64 MiB when it is next reset.
                "init_command": (
                    "PRAGMA journal_mode=WAL;PRAGMA synchronous=FULL;"
                    "PRAGMA foreign_keys=ON;PRAGMA busy_timeout=20000;"
                    "PRAGMA journal_size_limit=67108864;"
                ),
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            # Each server thread keeps its connection (and SQLite's prepared-statement
            # cache) across requests: opening one and running the PRAGMAs above cost
            # about 0.6 ms of CPU per request, more than most requests' own work. Django
            # runs in autocommit between requests, so an idle connection holds no read
            # snapshot and holds back no checkpoint. (Django's health check cannot test
            # a SQLite connection; a broken one raises on use and is replaced.)
            "CONN_MAX_AGE": int(os.environ.get("BAOMI_SQLITE_CONN_MAX_AGE", "60")),
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication -------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "baomi.accounts.backends.NormalizedUsernameBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("BAOMI_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("BAOMI_LOGIN_LOCKOUT_MINUTES", "15")))
# Lock by the normalized username: changing case, surrounding whitespace or Unicode
# form (full-width letters) must not give an attacker a fresh counter.
AXES_LOCKOUT_PARAMETERS = ["username", ["ip_address", "username"]]
AXES_USERNAME_CALLABLE = "baomi.accounts.security.axes_username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "baomi.accounts.views.lockout_response"
AXES_VERBOSE = False
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_IPWARE_PROXY_COUNT = int(os.environ.get("BAOMI_PROXY_COUNT", "0")) or None

OTP_TOTP_ISSUER = "Baomi 保密"
OTP_TOTP_THROTTLE_FACTOR = 1

# Sessions: server-side (database) so logout and deactivation end them for real.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_IDLE_SECONDS = int(os.environ.get("BAOMI_SESSION_IDLE_MINUTES", "30")) * 60
SESSION_ABSOLUTE_SECONDS = int(os.environ.get("BAOMI_SESSION_ABSOLUTE_HOURS", "10")) * 3600
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_SECONDS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_NAME = "baomi_session"
CSRF_COOKIE_NAME = "baomi_csrftoken"
CSRF_COOKIE_HTTPONLY = False  # the htmx helper sends it as a header
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_TRUSTED_ORIGINS = config.env_list("BAOMI_CSRF_TRUSTED_ORIGINS", "")
API_TOKEN_DEFAULT_DAYS = int(os.environ.get("BAOMI_TOKEN_DEFAULT_DAYS", "90"))

# --- Transport security ---------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if HTTPS:
    SECURE_SSL_REDIRECT = config.env_bool("BAOMI_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("BAOMI_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = config.env_bool("BAOMI_HSTS_PRELOAD", False)
    SECURE_SSL_HOST = None
if config.env_bool("BAOMI_BEHIND_PROXY"):
    # Only when a TLS-terminating proxy we control sets this header (see README).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = False

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "object-src": [NONE],
    }
}

# --- Requests -------------------------------------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("BAOMI_MAX_REQUEST_BYTES", str(1024 * 1024)))
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000

# --- Vault: documents, blobs, uploads (docs/vault.md) ----------------------------------
# Every uploaded file is sealed as it arrives by the vault's upload handler; no other
# handler is installed, so plaintext never reaches memory in full or a temporary file.
FILE_UPLOAD_HANDLERS = ["baomi.vault.uploads.SealingUploadHandler"]
BAOMI_MAX_UPLOAD_BYTES = int(os.environ.get("BAOMI_MAX_UPLOAD_BYTES", str(2 * 1024**3)))
BAOMI_BLOB_STORE = os.environ.get("BAOMI_BLOB_STORE", "local").strip().lower() or "local"
BAOMI_BLOB_DIR = Path(os.environ.get("BAOMI_BLOB_DIR") or DATA_DIR / "blobs")
BAOMI_S3 = {
    "endpoint_url": os.environ.get("BAOMI_S3_ENDPOINT") or None,
    "bucket": os.environ.get("BAOMI_S3_BUCKET", ""),
    "access_key": os.environ.get("BAOMI_S3_ACCESS_KEY") or None,
    "secret_key": os.environ.get("BAOMI_S3_SECRET_KEY") or None,
    "region": os.environ.get("BAOMI_S3_REGION") or "us-east-1",
    "prefix": os.environ.get("BAOMI_S3_PREFIX", ""),
}
BAOMI_WATERMARK_MAX_BYTES = int(os.environ.get("BAOMI_WATERMARK_MAX_BYTES", str(256 * 1024**2)))
# Classification (F05): uploads are scanned from an in-memory copy up to this size; a
# label enters the review queue (定期审查分类) when older than this many days.
BAOMI_SCAN_MAX_BYTES = int(os.environ.get("BAOMI_SCAN_MAX_BYTES", str(64 * 1024**2)))
BAOMI_CLASSIFICATION_REVIEW_DAYS = int(os.environ.get("BAOMI_CLASSIFICATION_REVIEW_DAYS", "365"))
# Bulk import: largest spreadsheet or ZIP accepted, and the largest file inside a ZIP.
BAOMI_IMPORT_MAX_BYTES = int(os.environ.get("BAOMI_IMPORT_MAX_BYTES", str(256 * 1024**2)))
BAOMI_VAULT_TMP_DIR = DATA_DIR / "tmp"

# --- Access governance (docs/access.md) ---------------------------------------------------
# Levels whose query requests the client may approve itself (comma list, e.g. "internal").
# PEM files (separated by ":") of the CAs whose certificates may sign a client's
# authorization form (e.g. the 电子营业执照 or CFCA roots the firm accepts). Unset: any
# valid signature is accepted and shown as "not checked against a trust list".
BAOMI_FORM_TRUST_ROOTS = [p for p in os.environ.get("BAOMI_FORM_TRUST_ROOTS", "").split(":")
                          if p.strip()]
# Certificate revocation lists (PEM or DER files, separated by ":") the firm downloads
# from those CAs (the server fetches nothing): with trust roots set, a form signed with a
# certificate one of them revokes is refused, and one whose CA's list is out of date is
# refused until the file is renewed. Unset: revocation is not checked.
BAOMI_FORM_CRLS = [p for p in os.environ.get("BAOMI_FORM_CRLS", "").split(":") if p.strip()]
BAOMI_CLIENT_APPROVES_LEVELS = os.environ.get("BAOMI_CLIENT_APPROVES_LEVELS", "")
# Longest period a client authorization may cover (F07, F25: time-limited), in days;
# 1096 is three years with a leap day. Query requests are held to 90 days.
BAOMI_AUTHORIZATION_MAX_DAYS = int(os.environ.get("BAOMI_AUTHORIZATION_MAX_DAYS", "1096"))
# How long an issued client authorization form may be signed and recorded, in days; the
# scheduler deletes the expired ones never used.
BAOMI_AUTHORIZATION_FORM_DAYS = int(os.environ.get("BAOMI_AUTHORIZATION_FORM_DAYS", "90"))

# --- Internationalisation -------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "baomi_language"
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
TIME_ZONE = os.environ.get("BAOMI_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Logging: structured, nothing secret ----------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("BAOMI_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "axes": {"level": "WARNING"},
        # pyHanko logs each untrusted or broken signature of an uploaded form with a
        # traceback; Baomi refuses or records the outcome itself (access.formsig).
        "pyhanko": {"level": "CRITICAL"},
        "pyhanko_certvalidator": {"level": "CRITICAL"},
        "pypdf": {"level": "ERROR"},
    },
}

BAOMI_VERSION = __import__("baomi").__version__
BAOMI_PAGE_SIZE = 20
LOGIN_URL_PATH = "/accounts/login/"
