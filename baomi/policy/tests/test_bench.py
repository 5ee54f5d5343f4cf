"""The policy benchmark runs, and its casbin model is a relaxation of `decide`.

Casbin there knows only roles per client domain, so whatever `decide` allows on the
generated firm, casbin must allow too; if not, the benchmark compares different questions.
"""

from __future__ import annotations

import pytest

from baomi.bench import policy_core
from baomi.policy import decide


def test_run_reports_figures() -> None:
    result = policy_core.run(staff=20, clients=50, grants=200, decisions=400)
    assert result["policy"]["decisions_per_s"] > 0
    assert result["casbin"]["decisions_per_s"] > 0
    assert result["casbin"]["enforcer"].startswith("casbin.")
    assert 0 < result["policy"]["allowed_share"] < 1
    assert result["ratio_decisions_per_s"] > 0


def test_casbin_allows_whatever_decide_allows() -> None:
    world = policy_core.generate(staff=40, clients=60, grants=400, decisions=2000)
    enforcer, _ = policy_core.casbin_enforcer(world)
    allowed = 0
    for r in world.requests:
        decision = decide(r.actor, r.action, r.obj, r.purpose, policy_core.NOW,
                                      r.facts)
        if decision.allowed:
            allowed += 1
            assert enforcer.enforce(
                f"u{r.actor.user_id}", f"c{r.obj.client_id}", r.obj.level.value, r.action.value
            ), (r, decision)
    assert allowed > 100


def test_main_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = policy_core.main(["--json", "--staff", "10", "--clients", "20", "--grants", "50",
                             "--decisions", "100"])
    assert code == 0
    assert '"ratio_decisions_per_s"' in capsys.readouterr().out
