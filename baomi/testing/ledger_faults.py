"""Make ledger appends fail, for fail-closed tests: a trigger on the entry table that
aborts a given share of inserts, on SQLite and on PostgreSQL (real database errors, as
a full disk or a broken connection would raise them). The same on the filter index
(`table="audit_ledgerlookup"`) makes its catch-up fail."""

from __future__ import annotations

from django.db import connection

# Table → the trigger's name.
_TRIGGERS = {
    "audit_ledgerentry": "baomi_ledger_fault",
    "audit_ledgerlookup": "baomi_ledger_lookup_fault",
}


def inject_ledger_faults(percent: int, *, table: str = "audit_ledgerentry") -> None:
    """From now on, about `percent` % of inserts into `table` (the entry table, or the
    filter index) fail (100: every one)."""
    if not 0 <= percent <= 100:
        raise ValueError("percent must be between 0 and 100")
    trigger = _TRIGGERS[table]
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                "CREATE OR REPLACE FUNCTION baomi_ledger_fault() RETURNS trigger AS $$ BEGIN "
                f"IF random() * 100 < {int(percent)} THEN RAISE EXCEPTION 'injected ledger "
                "fault'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            cur.execute(
                f"CREATE TRIGGER {trigger} BEFORE INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION baomi_ledger_fault()"
            )
        else:
            cur.execute(
                f"CREATE TRIGGER {trigger} BEFORE INSERT ON {table} "
                f"WHEN (abs(random()) % 100) < {int(percent)} "
                "BEGIN SELECT RAISE(ABORT, 'injected ledger fault'); END"
            )


def clear_ledger_faults() -> None:
    """Appends (and catch-ups) work again."""
    with connection.cursor() as cur:
        for table, trigger in _TRIGGERS.items():
            if connection.vendor == "postgresql":
                cur.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
            else:
                cur.execute(f"DROP TRIGGER IF EXISTS {trigger}")
