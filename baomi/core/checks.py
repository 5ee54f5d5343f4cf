"""`baomi check`: Django's deployment checks plus Baomi's own.

Over plain HTTP Django's deploy checks warn about HTTPS redirects, secure cookies and
HSTS. Baomi accepts plain HTTP only when every allowed host is a loopback name
(a single-machine install reached through the same machine); otherwise HTTPS must be
on, and then those Django warnings apply unchanged.
"""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from baomi import config

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
_HTTPS_ONLY_IDS = {
    "security.W004",  # HSTS
    "security.W008",  # SSL redirect
    "security.W012",  # session cookie secure
    "security.W016",  # csrf cookie secure
}

Problem = tuple[str, str, str]


def _loopback_only() -> bool:
    return all(h in LOOPBACK_HOSTS for h in settings.ALLOWED_HOSTS)


def django_deploy_problems() -> list[Problem]:
    messages = checks.run_checks(include_deployment_checks=True)
    out: list[Problem] = []
    for m in messages:
        if m.level < checks.WARNING:
            continue
        if m.id in _HTTPS_ONLY_IDS and not settings.HTTPS and _loopback_only():
            continue
        level = "ERROR" if m.level >= checks.ERROR else "WARNING"
        out.append((level, str(m.id), str(m.msg).splitlines()[0]))
    return out


def baomi_problems() -> list[Problem]:
    out: list[Problem] = []
    base = settings.DATA_DIR
    if settings.DEBUG:
        out.append(("ERROR", "baomi.E001", "DEBUG is on; unset BAOMI_DEBUG in production."))
    if not settings.ALLOWED_HOSTS or "*" in settings.ALLOWED_HOSTS:
        out.append(("ERROR", "baomi.E002", "BAOMI_ALLOWED_HOSTS must list the host names served."))
    if not settings.HTTPS and not _loopback_only():
        out.append(
            (
                "ERROR",
                "baomi.E003",
                "Hosts beyond loopback are allowed but HTTPS is off: serve with --cert/--key or "
                "behind a TLS proxy with BAOMI_HTTPS=1 and BAOMI_BEHIND_PROXY=1.",
            )
        )
    master = base / config.MASTER_KEY_FILE
    out.extend(
        ("ERROR", "baomi.E004", f"master key: {p}") for p in config.file_mode_problems(master)
    )
    secret = base / config.SECRET_KEY_FILE
    if secret.exists():
        out.extend(
            ("ERROR", "baomi.E005", f"secret key: {p}") for p in config.file_mode_problems(secret)
        )
    if base.exists() and base.stat().st_mode & 0o007:
        out.append(("WARNING", "baomi.W006", f"data directory {base} is accessible to others"))
    try:
        pending = pending_migrations()
        if pending:
            out.append(
                (
                    "ERROR",
                    "baomi.E007",
                    f"{pending} database migration(s) not applied; run 'baomi migrate'.",
                )
            )
    except Exception as exc:  # report any database failure as a problem
        out.append(("ERROR", "baomi.E008", f"database unavailable: {type(exc).__name__}"))
    return out


def pending_migrations() -> int:
    """How many migrations the default database still lacks (raises if it cannot be read)."""
    executor = MigrationExecutor(connection)
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def run_all() -> list[Problem]:
    return django_deploy_problems() + baomi_problems()
