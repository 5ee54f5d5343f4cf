"""Loaded with `-p baomi.testing.pytest_plugin` before pytest-django reads settings.

It points Baomi at a throwaway data directory, so a test run never touches
`./baomi-data`, and offers `--db=postgres` to run the same suite on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import Any

_OWN_DATA_DIR: str | None = None
if not os.environ.get("BAOMI_DATA_DIR"):
    _OWN_DATA_DIR = tempfile.mkdtemp(prefix="baomi-test-data-")
    os.environ["BAOMI_DATA_DIR"] = _OWN_DATA_DIR
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baomi.settings")
# Sync Playwright runs an event loop in the test thread; Django's ORM must be allowed.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_addoption(parser: Any) -> None:
    parser.addoption(
        "--db",
        choices=["sqlite", "postgres"],
        default=os.environ.get("TEST_DB", "sqlite"),
        help="database to run the suite on (default $TEST_DB or sqlite)",
    )


def pytest_configure(config: Any) -> None:
    from django.conf import settings
    from django.db import connections

    settings.SECURE_SSL_REDIRECT = False
    if config.getoption("--db") != "postgres":
        return
    from baomi.testing import pgtemp

    info = pgtemp.start()
    config._baomi_pg = info
    settings.DATABASES["default"].update(
        {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "postgres",
            "HOST": info["HOST"],
            "PORT": info["PORT"],
            "USER": info["USER"],
            "PASSWORD": "",
            "OPTIONS": {},
            "CONN_MAX_AGE": 0,
        }
    )
    # pytest-django created the connection wrapper already; drop it so the next use
    # builds one for PostgreSQL instead of silently staying on SQLite.
    with contextlib.suppress(AttributeError):
        del connections["default"]


def pytest_unconfigure(config: Any) -> None:
    info = getattr(config, "_baomi_pg", None)
    if info:
        from baomi.testing import pgtemp

        pgtemp.stop(info)
    if _OWN_DATA_DIR:
        shutil.rmtree(_OWN_DATA_DIR, ignore_errors=True)
