"""Make ledger appends fail, for fail-closed tests: a trigger on the entry table that
aborts a given share of inserts, on SQLite and on PostgreSQL (real database errors, as
a full disk or a broken connection would raise them)."""

from __future__ import annotations

from django.db import connection


def inject_ledger_faults(percent: int) -> None:
    """From now on, about `percent` % of ledger inserts fail (100: every one)."""
    if not 0 <= percent <= 100:
        raise ValueError("percent must be between 0 and 100")
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                "CREATE OR REPLACE FUNCTION baomi_ledger_fault() RETURNS trigger AS $$ BEGIN "
                f"IF random() * 100 < {int(percent)} THEN RAISE EXCEPTION 'injected ledger "
                "fault'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            cur.execute(
                "CREATE TRIGGER baomi_ledger_fault BEFORE INSERT ON audit_ledgerentry "
                "FOR EACH ROW EXECUTE FUNCTION baomi_ledger_fault()"
            )
        else:
            cur.execute(
                "CREATE TRIGGER baomi_ledger_fault BEFORE INSERT ON audit_ledgerentry "
                f"WHEN (abs(random()) % 100) < {int(percent)} "
                "BEGIN SELECT RAISE(ABORT, 'injected ledger fault'); END"
            )


def clear_ledger_faults() -> None:
    """Appends work again."""
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("DROP TRIGGER IF EXISTS baomi_ledger_fault ON audit_ledgerentry")
        else:
            cur.execute("DROP TRIGGER IF EXISTS baomi_ledger_fault")
