"""`baomi ledger verify --jobs N` verifies a large ledger in parts, in forked processes:
the result is exactly the one-pass result, for an intact ledger and for each tamper, in
whichever part it lies (and on the rows where the parts meet).

The parts need a database other processes can open and no open transaction, so these
tests run a script in a subprocess against a database of its own: a SQLite file, or (with
`--db=postgres`) a database created on the test server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

SCRIPT = r'''
import json, os, sys
import django
django.setup()
from django.core.management import call_command
from django.db import connection
call_command("migrate", interactive=False, verbosity=0)
from baomi.audit import selectors
from baomi.audit.services import AuditEvent, RequestMeta, ledger_append_many, lookup_catch_up

def event(i):
    return AuditEvent(actor=f"user{i % 7}", action="document.read", object_type="document",
                      object_id=str(i), client_id=None if i % 5 == 0 else str(i % 11),
                      purpose="报税", request=RequestMeta("127.0.0.1", "t", f"r{i}"))

SIZE = 3000
for start in range(0, SIZE, 500):
    ledger_append_many([event(i) for i in range(start, start + 500)])
    if start in (0, 1500):
        selectors.checkpoint_create()
lookup_catch_up()
selectors.PARALLEL_MIN = 1
calls = []
real = selectors._verify_in_parts
def spy(*args, **kwargs):
    out = real(*args, **kwargs)
    calls.append(out[0] is not None)
    return out
selectors._verify_in_parts = spy

def run(sql, params):
    with connection.cursor() as cur:
        cur.execute(sql, params)

def verdicts():
    out = {}
    for jobs in (1, 3):
        calls.clear()
        r = selectors.ledger_verify(record=False, jobs=jobs)
        out[jobs] = [r.ok, r.size, r.checkpoints, r.code, r.first_bad_seq, r.message, list(calls)]
    return out

def one(column, seq, value):
    with connection.cursor() as cur:
        cur.execute(f"SELECT {column} FROM audit_ledgerentry WHERE seq = %s", [seq])
        (old,) = cur.fetchone()
    run(f"UPDATE audit_ledgerentry SET {column} = %s WHERE seq = %s", [value(old), seq])
    try:
        return verdicts()
    finally:
        run(f"UPDATE audit_ledgerentry SET {column} = %s WHERE seq = %s", [old, seq])

def flip(old):
    b = bytearray(bytes(old)); b[-1] ^= 1; return bytes(b)

results = {"intact": verdicts()}
# 3 parts of 3000: they meet at rows 999/1000 and 1999/2000.
for seq in (5, 999, 1000, 1500, 2222, 2999):
    results[f"state {seq}"] = one("state", seq, flip)
    results[f"leaf {seq}"] = one("leaf_hash", seq, flip)
    results[f"actor {seq}"] = one("actor", seq, lambda old: "mallory")
    results[f"data {seq}"] = one(
        "data", seq, lambda old: bytes(old).replace('"报税"'.encode(), '"审计"'.encode()))
results["nodes 1999"] = one("nodes", 1999, flip)
# A value stored as text where the parts meet (the row each next part starts from).
if connection.vendor == "sqlite":  # (PostgreSQL keeps bytea bytea, and no time spelling)
    results["text state 999"] = one("state", 999, lambda old: "x")
    results["text leaf 1999"] = one("leaf_hash", 1999, lambda old: "abc")
    results["spelled time 2500"] = one("time", 2500, lambda old: str(old).replace(" ", "T"))
# A part's process that dies (killed for memory, say) hands over to the one pass.
import baomi.audit.selectors as module
def die(part):
    os._exit(137)
die.__module__, die.__qualname__ = module.__name__, "_verify_part"
real_part = module._verify_part
module._verify_part = die
results["worker died"] = {"1": [0], "3": [0]}
calls.clear()
died = selectors.ledger_verify(record=False, jobs=3)
module._verify_part = real_part
results["worker died"]["3"] = [died.ok, died.size, died.code, list(calls)]
run("DELETE FROM audit_ledgerentry WHERE seq = 1400", [])
results["deleted 1400"] = verdicts()
print(json.dumps(results, ensure_ascii=False, default=str))
'''


@pytest.fixture
def database(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAOMI_", "DJANGO_"))}
    env["BAOMI_DATA_DIR"] = str(tmp_path / "data")
    env["DJANGO_SETTINGS_MODULE"] = "baomi.settings"
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        yield env
        return
    import psycopg

    name = f"verify_parts_{os.getpid()}"
    server = psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"],
                             dbname="postgres", autocommit=True)
    server.execute(f'CREATE DATABASE "{name}"')
    env["BAOMI_DATABASE_URL"] = f"postgresql://{db['USER']}@/{name}?host={db['HOST']}&port={db['PORT']}"
    try:
        yield env
    finally:
        server.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        server.close()


def test_parts_give_the_one_pass_verdict_for_every_tamper(database: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=database, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.splitlines()[-1])
    intact = results.pop("intact")
    assert intact["1"][:5] == [True, 3000, 2, "", None]
    assert intact["3"] == [*intact["1"][:6], [True]], "an intact ledger is verified in parts"
    died = results.pop("worker died")["3"]
    assert died == [True, 3000, "", [False]], "a dead part falls back to the one pass"
    for name, verdict in results.items():
        one_pass, parts = verdict["1"], verdict["3"]
        assert one_pass[0] is False, name
        assert parts[:6] == one_pass[:6], name
    # Each tamper is named where it is, in whichever part; the last row holds the head's
    # state, so a change there (or to its hashed bytes) makes the head disagree.
    for seq in (5, 999, 1000, 1500, 2222, 2999):
        last = seq == 2999
        assert results[f"state {seq}"]["1"][3:5] == (
            ["root_mismatch", 3000] if last else ["state_mismatch", seq])
        assert results[f"leaf {seq}"]["1"][3:5] == ["state_mismatch", seq]
        assert results[f"actor {seq}"]["1"][3:5] == ["index_mismatch", seq]
        assert results[f"data {seq}"]["1"][3:5] == (
            ["root_mismatch", 3000] if last else ["chain_broken", seq])
    assert results["nodes 1999"]["1"][3:5] == ["state_mismatch", 1999]
    if "text state 999" in results:
        assert results["text state 999"]["1"][3:5] == ["state_mismatch", 999]
        assert results["text leaf 1999"]["1"][3:5] == ["state_mismatch", 1999]
        assert results["spelled time 2500"]["1"][3:5] == ["index_mismatch", 2500]
    assert results["deleted 1400"]["1"][3:5] == ["sequence_gap", 1400]
    # Where the parts join up (a tamper inside a part, or in the index columns) the
    # verdict came from them; elsewhere from the one pass they handed over to.
    assert results["actor 1500"]["3"][6] == [True]
    assert results["state 999"]["3"][6] == [False]
