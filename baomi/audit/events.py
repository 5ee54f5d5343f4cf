"""`record(...)`: the one call every layer uses to put an event in the ledger.

Refusals are recorded too. `record` raises `LedgerUnavailable` when the entry cannot be
written; callers let it propagate so the action is refused (fail closed).
"""

from __future__ import annotations

from typing import Any

from baomi.audit.context import current_request_meta
from baomi.audit.services import AuditEvent, ledger_append


def actor_name(actor: Any) -> str:
    """How an actor appears in the ledger: the username, or a system name."""
    if actor is None:
        return "anonymous"
    if isinstance(actor, str):
        return actor
    username = getattr(actor, "username", None)
    return str(username) if username else "anonymous"


def record(
    actor: Any,
    action: str,
    *,
    object_type: str = "",
    object_id: Any = "",
    client_id: Any = None,
    purpose: str = "",
    decision: str = "allowed",
    reason: str = "",
) -> int:
    """Append one event (see `baomi.audit.services.ledger_append` for durability).

    Never pass secrets or client data values: ids, action names and reasons only.
    """
    return ledger_append(
        AuditEvent(
            actor=actor_name(actor),
            action=action,
            object_type=object_type,
            object_id=str(object_id) if object_id not in (None, "") else "",
            client_id=str(client_id) if client_id is not None else None,
            purpose=purpose,
            decision=decision,
            reason=reason,
            request=current_request_meta(),
        )
    )
