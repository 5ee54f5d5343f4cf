"""The access matrix: role × action × level → what else is required.

`MATRIX` is the single source of truth: `decide` reads it, `docs/access-matrix.md` is
generated from it by `matrix_markdown()` (a test fails if the two differ), and the UI
and the endpoint authorization-matrix test are generated from it too.

A cell does not grant on its own. It names the *reach* condition for that role, action and
level; `decide` then also checks the actor (active, engagement window), clearance, MFA,
agreement, training, purpose and break-glass reason. A missing action means `deny`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from baomi.policy.vocab import LEVEL_ZH, LEVELS, ROLE_NAMES, Action, Level, Role


class Req(StrEnum):
    """What a cell requires besides the role. Codes appear in the generated doc table."""

    DENY = "deny"  # never, for this role, action and level
    FIRM = "firm"  # any client of the firm (or a firm-level object)
    ASSIGNED = "assigned"  # the client is assigned to the actor (manager: or in their dept)
    REQUEST = "request"  # an approved query request covering the object and now
    ASSIGNED_REQUEST = "assigned_and_request"  # both of the above
    ASSIGNED_OR_REQUEST = "assigned_or_request"  # either of the above
    AUTHORIZED = "authorized"  # a live client authorization covering the object
    OWN = "own"  # the object belongs to the portal user's own company
    BREAK_GLASS = "break_glass"  # emergency read with a stated reason, reviewed afterwards


Cells = tuple[Req, Req, Req, Req]  # one per level, in LEVELS order

_D = Req.DENY
_F = Req.FIRM
_A = Req.ASSIGNED
_R = Req.REQUEST
_AR = Req.ASSIGNED_REQUEST
_AOR = Req.ASSIGNED_OR_REQUEST
_AU = Req.AUTHORIZED
_O = Req.OWN
_BG = Req.BREAK_GLASS


def _all(req: Req) -> Cells:
    return (req, req, req, req)


# Columns: public, internal, confidential, secret.
# Design choices (argued in docs/access-matrix.md):
# - Secret content is never read on a role alone: every secret content read needs an
#   approved query request (or break-glass); secret files are never downloaded or exported
#   by staff, only viewed.
# - Admins manage everything but read content above internal only for clients assigned to
#   them or through a query request, so running the system does not mean reading it.
# - Nobody approves query requests they made; admins do not approve at all (separation of
#   duties): managers approve for their department, compliance for the whole firm.
_MATRIX: dict[Role, dict[Action, Cells]] = {
    Role.ADMIN: {
        Action.CLIENT_LIST: _all(_F),
        Action.CLIENT_VIEW: _all(_F),
        Action.CLIENT_CREATE: _all(_F),
        Action.CLIENT_UPDATE: _all(_F),
        Action.CLIENT_SENSITIVE_READ: (_F, _F, _AOR, _AR),
        Action.DOCUMENT_LIST: _all(_F),
        Action.DOCUMENT_METADATA: _all(_F),
        Action.DOCUMENT_READ: (_F, _F, _AOR, _AR),
        Action.DOCUMENT_DOWNLOAD: (_F, _F, _AOR, _D),
        Action.DOCUMENT_UPLOAD: (_F, _F, _A, _A),
        Action.DOCUMENT_VERSION: (_F, _F, _A, _A),
        Action.DOCUMENT_CLASSIFY: (_F, _F, _A, _A),
        Action.STAFF_VIEW: _all(_F),
        Action.STAFF_MANAGE: _all(_F),
        Action.ASSIGNMENT_MANAGE: _all(_F),
        Action.AUTHORIZATION_GRANT: _all(_F),
        Action.AUTHORIZATION_REVOKE: _all(_F),
        Action.QUERY_REQUEST_CREATE: _all(_F),
        Action.LEDGER_VIEW: _all(_F),
        Action.LEDGER_VIEW_CLIENT: _all(_F),
        Action.ACCESS_REVIEW_MANAGE: _all(_F),
        Action.EXPORT_CREATE: (_F, _F, _AOR, _D),
    },
    Role.MANAGER: {
        Action.CLIENT_LIST: _all(_F),
        Action.CLIENT_VIEW: _all(_A),
        Action.CLIENT_CREATE: _all(_F),
        Action.CLIENT_UPDATE: _all(_A),
        Action.CLIENT_SENSITIVE_READ: (_A, _A, _A, _AR),
        Action.DOCUMENT_LIST: _all(_A),
        Action.DOCUMENT_METADATA: _all(_A),
        Action.DOCUMENT_READ: (_A, _A, _A, _AR),
        Action.DOCUMENT_DOWNLOAD: (_A, _A, _A, _D),
        Action.DOCUMENT_UPLOAD: _all(_A),
        Action.DOCUMENT_VERSION: _all(_A),
        Action.DOCUMENT_CLASSIFY: _all(_A),
        Action.STAFF_VIEW: _all(_F),
        Action.ASSIGNMENT_MANAGE: _all(_A),
        Action.AUTHORIZATION_GRANT: _all(_A),
        Action.AUTHORIZATION_REVOKE: _all(_A),
        Action.QUERY_REQUEST_CREATE: _all(_A),
        Action.QUERY_REQUEST_APPROVE: _all(_A),
        Action.LEDGER_VIEW_CLIENT: _all(_A),
        Action.EXPORT_CREATE: (_A, _A, _A, _D),
        Action.BREAK_GLASS_READ: _all(_BG),
    },
    Role.ACCOUNTANT: {
        Action.CLIENT_LIST: _all(_F),
        Action.CLIENT_VIEW: _all(_A),
        Action.CLIENT_UPDATE: _all(_A),
        Action.CLIENT_SENSITIVE_READ: (_A, _A, _A, _AR),
        Action.DOCUMENT_LIST: _all(_A),
        Action.DOCUMENT_METADATA: _all(_A),
        Action.DOCUMENT_READ: (_A, _A, _A, _AR),
        Action.DOCUMENT_DOWNLOAD: (_A, _A, _A, _D),
        Action.DOCUMENT_UPLOAD: _all(_A),
        Action.DOCUMENT_VERSION: _all(_A),
        Action.DOCUMENT_CLASSIFY: (_A, _A, _A, _D),
        Action.QUERY_REQUEST_CREATE: _all(_A),
        Action.EXPORT_CREATE: (_A, _A, _A, _D),
    },
    Role.COMPLIANCE: {
        Action.CLIENT_LIST: _all(_F),
        Action.CLIENT_VIEW: _all(_F),
        Action.CLIENT_SENSITIVE_READ: _all(_R),
        Action.DOCUMENT_LIST: _all(_F),
        Action.DOCUMENT_METADATA: _all(_F),
        Action.DOCUMENT_READ: _all(_R),
        # Labelling (定密) and lowering a label (解密) are the confidentiality officer's:
        # the scheduled review of labels (F05) is theirs. Content stays request-only.
        Action.DOCUMENT_CLASSIFY: _all(_F),
        Action.STAFF_VIEW: _all(_F),
        Action.AUTHORIZATION_REVOKE: _all(_F),
        Action.QUERY_REQUEST_CREATE: _all(_F),
        Action.QUERY_REQUEST_APPROVE: _all(_F),
        Action.LEDGER_VIEW: _all(_F),
        Action.LEDGER_VIEW_CLIENT: _all(_F),
        Action.ACCESS_REVIEW_MANAGE: _all(_F),
    },
    Role.INTERNAL_AUDITOR: {
        Action.CLIENT_LIST: _all(_F),
        Action.CLIENT_VIEW: _all(_F),
        Action.CLIENT_SENSITIVE_READ: (_F, _F, _R, _R),
        Action.DOCUMENT_LIST: _all(_F),
        Action.DOCUMENT_METADATA: _all(_F),
        Action.DOCUMENT_READ: (_F, _F, _R, _R),
        Action.STAFF_VIEW: _all(_F),
        Action.QUERY_REQUEST_CREATE: _all(_F),
        Action.LEDGER_VIEW: _all(_F),
        Action.LEDGER_VIEW_CLIENT: _all(_F),
    },
    Role.EXTERNAL_AUDITOR: {
        Action.CLIENT_LIST: _all(_F),
        Action.CLIENT_VIEW: _all(_A),
        Action.CLIENT_SENSITIVE_READ: (_A, _A, _AR, _AR),
        Action.DOCUMENT_LIST: _all(_A),
        Action.DOCUMENT_METADATA: _all(_A),
        Action.DOCUMENT_READ: (_A, _A, _AR, _AR),
        Action.QUERY_REQUEST_CREATE: _all(_A),
        Action.LEDGER_VIEW_CLIENT: _all(_A),
    },
    Role.PARTNER: {
        Action.CLIENT_VIEW: _all(_AU),
        Action.CLIENT_SENSITIVE_READ: (_AU, _AU, _AU, _D),
        Action.DOCUMENT_LIST: _all(_AU),
        Action.DOCUMENT_METADATA: (_AU, _AU, _AU, _D),
        Action.DOCUMENT_READ: (_AU, _AU, _AU, _D),
        Action.DOCUMENT_DOWNLOAD: (_AU, _AU, _AU, _D),
        Action.DOCUMENT_UPLOAD: (_AU, _AU, _AU, _D),
    },
    Role.CLIENT: {
        Action.CLIENT_VIEW: _all(_O),
        Action.CLIENT_SENSITIVE_READ: _all(_O),
        Action.DOCUMENT_LIST: _all(_O),
        Action.DOCUMENT_METADATA: _all(_O),
        Action.DOCUMENT_READ: _all(_O),
        Action.DOCUMENT_DOWNLOAD: _all(_O),
        Action.DOCUMENT_UPLOAD: _all(_O),
        Action.AUTHORIZATION_GRANT: _all(_O),
        Action.AUTHORIZATION_REVOKE: _all(_O),
        Action.LEDGER_VIEW_CLIENT: _all(_O),
        Action.EXPORT_CREATE: _all(_O),
    },
}

_DENIED: Cells = _all(_D)

MATRIX: Mapping[Role, Mapping[Action, Cells]] = MappingProxyType(
    {role: MappingProxyType(dict(rows)) for role, rows in _MATRIX.items()}
)
"""Role → action → one `Req` per level (public, internal, confidential, secret)."""


def cells(role: Role, action: Action) -> Cells:
    """The four cells (one per level) for `role` and `action`; all `deny` if not listed."""
    return _MATRIX[role].get(action, _DENIED)


def cell(role: Role, action: Action, level: Level) -> Req:
    """The requirement for `role` doing `action` on an object labelled `level`."""
    return cells(role, action)[LEVELS.index(level)]


def _show(req: Req) -> str:
    return "—" if req is Req.DENY else f"`{req.value}`"


def matrix_markdown() -> str:
    """The matrix as Markdown tables, one per role: the generated part of the doc."""
    header_levels = " | ".join(f"{level.value} {LEVEL_ZH[level]}" for level in LEVELS)
    parts: list[str] = []
    for role in Role:
        parts.append(f"### `{role.value}` {ROLE_NAMES[role][0]}\n")
        parts.append(f"| action | {header_levels} |")
        parts.append("|---|---|---|---|---|")
        for action in Action:
            row = cells(role, action)
            if row == _DENIED:
                continue
            parts.append(f"| `{action.value}` | " + " | ".join(_show(r) for r in row) + " |")
        parts.append("")
    return "\n".join(parts)


GENERATED_BEGIN = "<!-- BEGIN GENERATED MATRIX: python -m baomi.policy -->"
GENERATED_END = "<!-- END GENERATED MATRIX -->"


def replace_generated(doc: str) -> str:
    """`doc` with the text between the generated-matrix markers replaced by the matrix."""
    head, rest = doc.split(GENERATED_BEGIN, 1)
    _, tail = rest.split(GENERATED_END, 1)
    return f"{head}{GENERATED_BEGIN}\n\n{matrix_markdown()}\n{GENERATED_END}{tail}"

