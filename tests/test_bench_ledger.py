"""`baomi bench ledger` runs end to end (small figures: speed is what it reports, not
what this checks) and reports every verification it measures as intact."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_bench_ledger_reports_each_measure() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAOMI_", "DJANGO_"))}
    done = subprocess.run(
        [sys.executable, "-m", "baomi.cli", "bench", "ledger", "--json", "--seconds", "0.4",
         "--rounds", "1", "--entries", "3000", "--proofs", "5", "--no-core",
         "--processes", "0", "--jobs", "2"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["verify_jobs"] == 2
    keys = ("verify_full", "verify_full_one_process", "verify", "verify_one_process")
    assert all(result[key]["ok"] for key in keys)
    sizes = {result[key]["entries"] for key in keys}
    assert len(sizes) == 1 and sizes.pop() >= 3000  # (the rate runs appended some too)
    assert result["append_1_per_s"] > 0 and result["append_8_per_s"] > 0
    assert result["inclusion_proof_db"]["max_bytes"] < 1024
