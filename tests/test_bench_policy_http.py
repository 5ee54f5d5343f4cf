"""`baomi bench policy` over HTTP runs end to end on `baomi up` with wrk (small figures:
the rates are what it reports, not what this checks): every answer is a 2xx, the sealed
read really opened the field, and each run says how its load fell on the two workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from baomi.bench.policy import UNBALANCED_RETRIES, UNBALANCED_SHARE, WRK


@pytest.mark.skipif(not Path(WRK).exists(), reason="wrk is not installed (scripts/test does)")
def test_bench_policy_http_reports_each_load() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAOMI_", "DJANGO_"))}
    done = subprocess.run(
        [sys.executable, "-m", "baomi.cli", "bench", "policy", "--json", "--skip-core",
         "--duration", "2", "--rounds", "2", "--connections", "4", "--threads", "1"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    http = json.loads(done.stdout)["http"]
    assert http["workers"] == 2 and http["rounds"] == 2
    for key in ("healthz", "metadata", "sensitive"):
        load = http[key]
        assert load["non_2xx"] == 0
        assert len(load["round_rates"]) == 2 and min(load["round_rates"]) > 0
        shares = load["round_busiest_worker_share"]
        assert len(shares) == 2 and all(0.5 <= s <= 1.0 for s in shares)
    # A run left unbalanced only after every retry was used up.
    assert 0 <= http["unbalanced_runs_repeated"] <= 6 * UNBALANCED_RETRIES
    if http["unbalanced_runs_repeated"] < UNBALANCED_RETRIES:
        assert all(s <= UNBALANCED_SHARE for k in ("healthz", "metadata", "sensitive")
                   for s in http[k]["round_busiest_worker_share"])
    assert http["ratio"] == http["sensitive"]["ratio"] > 0
    assert http["meets_target"] == (http["ratio"] >= 0.4)
