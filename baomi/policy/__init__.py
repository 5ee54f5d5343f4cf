"""The access decision as a pure function with reasons (framework-free, no I/O).

`decide(actor, action, obj, purpose, now, facts)` answers whether an actor may do an
action to an object; Django selectors gather the `Facts`, the vault door acts on the
`Decision` (and its obligations) after writing it to the ledger. The access matrix in
`baomi.policy.matrix.MATRIX` is what `decide` reads and what docs/access-matrix.md shows.
"""

from baomi.policy.decide import (
    ACTION_KINDS,
    Decision,
    decide,
    explain,
    permitted,
    visible_actions,
)
from baomi.policy.facts import (
    DEFAULT_CONFIG,
    Actor,
    Authorization,
    Facts,
    Id,
    PolicyConfig,
    QueryRequest,
    Resource,
    Scope,
    Window,
)
from baomi.policy.matrix import MATRIX, Req, cell, cells, matrix_markdown
from baomi.policy.reasons import Reason
from baomi.policy.vocab import (
    ACTION_NAMES,
    CONTENT_READS,
    DEFAULT_PURPOSES,
    LEVEL_RANK,
    LEVELS,
    ROLE_NAMES,
    RULE_TITLES,
    WATERMARKED,
    Action,
    ActorStatus,
    Category,
    Level,
    ObjectKind,
    Obligation,
    QueryStatus,
    Role,
    Rule,
)

__all__ = [
    "ACTION_KINDS",
    "ACTION_NAMES",
    "CONTENT_READS",
    "DEFAULT_CONFIG",
    "DEFAULT_PURPOSES",
    "LEVELS",
    "LEVEL_RANK",
    "MATRIX",
    "ROLE_NAMES",
    "RULE_TITLES",
    "WATERMARKED",
    "Action",
    "Actor",
    "ActorStatus",
    "Authorization",
    "Category",
    "Decision",
    "Facts",
    "Id",
    "Level",
    "ObjectKind",
    "Obligation",
    "PolicyConfig",
    "QueryRequest",
    "QueryStatus",
    "Reason",
    "Req",
    "Resource",
    "Role",
    "Rule",
    "Scope",
    "Window",
    "cell",
    "cells",
    "decide",
    "explain",
    "matrix_markdown",
    "permitted",
    "visible_actions",
]
