"""Who may look at the audit ledger."""

from __future__ import annotations

from baomi.accounts.models import Role, User

LEDGER_VIEWERS = frozenset(
    {Role.ADMIN, Role.COMPLIANCE, Role.INTERNAL_AUDITOR, Role.EXTERNAL_AUDITOR}
)


def can_view_ledger(actor: User) -> bool:
    """The whole log: administrators, the compliance officer and auditors."""
    return actor.is_active and actor.role in LEDGER_VIEWERS
