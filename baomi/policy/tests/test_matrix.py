"""The access matrix: the doc matches the code, design invariants hold, and every cell is
exactly what `decide` does (the authorization-matrix test of the policy core)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from baomi.policy import (
    ACTION_KINDS,
    CONTENT_READS,
    LEVELS,
    MATRIX,
    Action,
    Level,
    ObjectKind,
    Req,
    Resource,
    Role,
    Rule,
    cell,
    cells,
    decide,
    explain,
    matrix_markdown,
)
from baomi.policy.matrix import GENERATED_BEGIN, GENERATED_END, replace_generated
from baomi.policy.tests.builders import (
    CLIENT,
    NOW,
    SOMEONE_ELSE,
    actor,
    everything,
    facts,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "access-matrix.md"
STAFF_ROLES = [r for r in Role if r is not Role.CLIENT]


def test_doc_table_is_generated_from_matrix() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert GENERATED_BEGIN in text
    assert GENERATED_END in text
    assert replace_generated(text) == text, "run `python -m baomi.policy` to regenerate"


def test_every_role_has_a_table_and_only_listed_actions() -> None:
    generated = matrix_markdown()
    for role in Role:
        assert f"### `{role.value}`" in generated
        for action in Action:
            listed = any(r is not Req.DENY for r in cells(role, action))
            row = f"| `{action.value}` |"
            section = generated.split(f"### `{role.value}`", 1)[1].split("### ", 1)[0]
            assert (row in section) == listed


def test_matrix_covers_only_known_roles_and_actions() -> None:
    assert set(MATRIX) == set(Role)
    for rows in MATRIX.values():
        for action, row in rows.items():
            assert action in Action
            assert len(row) == len(LEVELS)


def test_secret_content_is_never_read_on_role_alone() -> None:
    allowed = {Req.DENY, Req.REQUEST, Req.ASSIGNED_REQUEST, Req.BREAK_GLASS}
    for role, action in itertools.product(STAFF_ROLES, CONTENT_READS):
        assert cell(role, action, Level.SECRET) in allowed, (role, action)


def test_nobody_downloads_or_exports_secret_except_the_client_itself() -> None:
    for role, action in itertools.product(STAFF_ROLES, [Action.DOCUMENT_DOWNLOAD,
                                                        Action.EXPORT_CREATE]):
        assert cell(role, action, Level.SECRET) is Req.DENY


def test_partner_reaches_only_through_authorization() -> None:
    for action in Action:
        assert set(cells(Role.PARTNER, action)) <= {Req.DENY, Req.AUTHORIZED}


def test_client_reaches_only_its_own_company() -> None:
    for action in Action:
        assert set(cells(Role.CLIENT, action)) <= {Req.DENY, Req.OWN}


def test_only_partners_and_clients_use_their_own_paths() -> None:
    for role, action in itertools.product(STAFF_ROLES, Action):
        row = set(cells(role, action))
        if role is not Role.PARTNER:
            assert Req.AUTHORIZED not in row
        assert Req.OWN not in row


def test_external_auditor_is_read_only() -> None:
    reads = {Action.CLIENT_LIST, Action.CLIENT_VIEW, Action.CLIENT_SENSITIVE_READ,
             Action.DOCUMENT_LIST, Action.DOCUMENT_METADATA, Action.DOCUMENT_READ,
             Action.LEDGER_VIEW_CLIENT, Action.QUERY_REQUEST_CREATE}
    for action in Action:
        if action not in reads:
            assert set(cells(Role.EXTERNAL_AUDITOR, action)) == {Req.DENY}, action


def test_only_managers_break_glass() -> None:
    for role, action in itertools.product(Role, Action):
        if Req.BREAK_GLASS in cells(role, action):
            assert role is Role.MANAGER


def test_cells_never_loosen_with_level() -> None:
    # A higher label never needs *less* than a lower one for the same role and action.
    strictness = {Req.FIRM: 0, Req.ASSIGNED: 1, Req.ASSIGNED_OR_REQUEST: 1, Req.REQUEST: 2,
                  Req.ASSIGNED_REQUEST: 3, Req.AUTHORIZED: 1, Req.OWN: 1,
                  Req.BREAK_GLASS: 1, Req.DENY: 9}
    for role, action in itertools.product(Role, Action):
        row = [strictness[r] for r in cells(role, action)]
        assert row == sorted(row), (role, action, cells(role, action))


def _object_for(action: Action, level: Level, req: Req) -> Resource | None:
    kinds = ACTION_KINDS[action]
    labelled = sorted(k for k in kinds if k is not None)
    # Firm-level actions get no object, unless the cell needs a client to reach.
    if None in kinds and (req in {Req.FIRM, Req.DENY} or not labelled):
        return None
    kind = labelled[0]
    return Resource(kind=kind, id=100, client_id=CLIENT, level=level, category=None,
                    owner_id=SOMEONE_ELSE)


def _sweep() -> list[tuple[Role, Action, Level]]:
    # Firm-level actions without an object are only meaningful at `public`.
    return [
        (role, action, level)
        for role, action, level in itertools.product(Role, Action, LEVELS)
        if level is Level.PUBLIC or _object_for(action, level, cell(role, action, level))
    ]


@pytest.mark.parametrize(("role", "action", "level"), _sweep())
def test_each_cell_is_what_decide_does(role: Role, action: Action, level: Level) -> None:
    """With every fact in place, decide allows exactly the non-deny cells; with none of the
    reach facts, only `firm`, `break_glass` and `own` (the actor's own company) remain."""
    req = cell(role, action, level)
    obj = _object_for(action, level, req)
    full = everything(break_glass_reason="紧急")
    who = actor(role)
    decision = decide(who, action, obj, "审计", NOW, full)
    assert decision.allowed == (req is not Req.DENY), explain(decision, "en")
    bare = facts(break_glass_reason="紧急")
    bare_decision = decide(who, action, obj, "审计", NOW, bare)
    assert bare_decision.allowed == (req in {Req.FIRM, Req.BREAK_GLASS, Req.OWN}), explain(
        bare_decision, "en"
    )
    if req is Req.DENY:
        assert decision.rule in {Rule.ROLE_NOT_PERMITTED, Rule.BREAK_GLASS_NOT_PERMITTED}


def test_object_kinds_cover_every_action() -> None:
    assert set(ACTION_KINDS) == set(Action)
    for kinds in ACTION_KINDS.values():
        assert kinds <= {None, *ObjectKind}
