"""Who may look at the whole audit ledger: `ledger.view` in the access matrix.

The policy decides, so an external auditor's engagement window, a leaver's status and
the matrix itself apply here as everywhere else (one client's access history is
`ledger.view_client`, decided where it is shown).
"""

from __future__ import annotations

from baomi.accounts.models import User


def can_view_ledger(actor: User) -> bool:
    """Whether the menu and pages offer the audit log (a firm-level cell: no queries)."""
    from baomi import policy
    from baomi.access import selectors as access

    return access.decide_for(actor, policy.Action.LEDGER_VIEW, None).allowed


def require_ledger_view(actor: User, ledger_action: str = "ledger.view") -> None:
    """Raise `AccessDenied` with the policy's reason, recorded as `ledger_action`
    refused, unless `actor` may read the whole log."""
    from baomi import policy
    from baomi.access.services import require_allowed

    require_allowed(actor, policy.Action.LEDGER_VIEW, None, ledger_action=ledger_action,
                    object_type="ledger")
