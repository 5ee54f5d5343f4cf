"""`baomi ledger …` on input it must refuse: counts out of range, arguments that are not
text, checkpoint files that are not checkpoints (or are endless), a data directory never
migrated. Each is a clear message and a non-zero exit status, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import translation

from baomi import cli
from baomi.audit import selectors
from baomi.audit.messages import ledger_message
from baomi.audit.services import AuditEvent, ledger_append_many

BAOMI = [sys.executable, "-m", "baomi.cli"]


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAOMI_", "DJANGO_"))}
    env["BAOMI_DATA_DIR"] = str(data_dir)
    return env


def run(args: list[str | bytes], data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BAOMI, *args], env=_env(data_dir), capture_output=True, text=True,
                          timeout=180, check=False)


@pytest.fixture
def baomi(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """`baomi …` in this process, on the test database, in English: (status, out, err).

    (`_setup` points a real run at its data directory and starts Django; here both are
    the test run's already.)"""
    monkeypatch.setattr(cli, "_setup", lambda data_dir: None)

    def call(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        with translation.override("en"):
            try:
                status = cli.main(list(args))
            except SystemExit as exc:  # argparse
                status = int(exc.code or 0)
        out, err = capsys.readouterr()
        return status, out, err

    return call


def _fill(n: int) -> None:
    ledger_append_many([AuditEvent(actor="system", action="test.fill") for _ in range(n)])


# --- Arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["-1", "0", "1000001", "99999999999999999999", "abc"])
def test_show_refuses_a_count_out_of_range(baomi: Any, value: str) -> None:
    status, _out, err = baomi("ledger", "show", "--last", value)
    assert status == 2
    assert "--last" in err and "from 1 to 1,000,000" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("value", ["0", "-2", "65", "two", "1.5"])
def test_verify_refuses_a_job_count_out_of_range(baomi: Any, value: str) -> None:
    status, _out, err = baomi("ledger", "verify", "--jobs", value)
    assert status == 2
    assert "--jobs" in err and "from 1 to 64" in err
    assert "Traceback" not in err


@pytest.mark.django_db
def test_verify_with_jobs_in_a_transaction_verifies_in_one_pass(baomi: Any) -> None:
    # (The test database is in memory, in a transaction: no part can be forked off.)
    _fill(3)
    status, out, _err = baomi("ledger", "verify", "--jobs", "4")
    assert status == 0 and "ledger intact: 3 entries" in out


@pytest.mark.django_db
def test_show_takes_the_whole_range(baomi: Any) -> None:
    _fill(3)
    assert baomi("ledger", "show", "--last", "1")[1].count("test.fill") == 1
    status, out, _err = baomi("ledger", "show", "--last", "1000000")
    assert status == 0 and out.count("test.fill") == 3


@pytest.mark.parametrize("option", ["--client", "--actor", "--action"])
def test_show_refuses_arguments_that_are_not_text(baomi: Any, option: str) -> None:
    # How Python hands over argv bytes that are not UTF-8 (surrogate escapes).
    status, _out, err = baomi("ledger", "show", option, "\udcff")
    assert status == 2 and "not valid UTF-8 text" in err and "Traceback" not in err


def test_show_refuses_bytes_that_are_not_utf8_from_the_shell(tmp_path: Path) -> None:
    r = run(["ledger", "show", "--client", b"\xff"], tmp_path / "data")
    assert r.returncode == 2, r.stderr
    assert "not valid UTF-8 text" in r.stderr and "Traceback" not in r.stderr


# --- Checkpoint files -----------------------------------------------------------------------


@pytest.mark.django_db
def test_consistency_with_a_file_that_is_not_utf8(baomi: Any, tmp_path: Path) -> None:
    _fill(3)
    good = selectors.checkpoint_create().text.encode()
    bad = tmp_path / "cp.txt"
    bad.write_bytes(good.replace(b"\n", b"\xff\n", 1))
    status, _out, err = baomi("ledger", "consistency", str(bad))
    assert status == 1 and "Traceback" not in err
    with translation.override("en"):
        assert f"error [checkpoint_malformed]: {ledger_message('checkpoint_malformed')}" in err
    assert "checkpoint is not UTF-8" in err  # the core's own account, below it
    good_file = tmp_path / "good.txt"
    good_file.write_bytes(good)
    status, out, err = baomi("ledger", "consistency", str(good_file))
    assert status == 0 and "consistent" in out, err


@pytest.mark.django_db
def test_consistency_refuses_a_file_too_large_to_be_a_checkpoint(
    baomi: Any, tmp_path: Path
) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"a" * (64 * 1024 + 1))
    status, _out, err = baomi("ledger", "consistency", str(path))
    assert status == 1
    assert "This file is too large to be a checkpoint (65,536 bytes at most)." in err


def _limit_memory() -> None:
    import resource

    # Ample for Baomi; an endless file read whole fails with MemoryError instead of
    # taking the machine's memory (and the test run) with it.
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def test_consistency_does_not_read_an_endless_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert run(["migrate"], data_dir).returncode == 0
    r = subprocess.run(
        [*BAOMI, "ledger", "consistency", "/dev/zero"], env=_env(data_dir),
        capture_output=True, text=True, timeout=180, check=False, preexec_fn=_limit_memory,
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("error: ") and "65,536" in r.stderr


@pytest.mark.django_db
def test_a_fork_is_reported_in_words_and_by_code(baomi: Any, tmp_path: Path) -> None:
    _fill(10)
    exported = tmp_path / "cp.txt"
    assert baomi("ledger", "checkpoint", "--export", str(exported))[0] == 0
    with connection.cursor() as cur:
        cur.execute("DELETE FROM audit_ledgerentry WHERE seq >= %s", [5])
    status, _out, err = baomi("ledger", "consistency", str(exported))
    assert status == 1
    with translation.override("en"):
        assert f"FORK [rollback]: {ledger_message('rollback')}" in err


@pytest.mark.django_db
def test_prove_names_an_entry_it_cannot_prove(baomi: Any) -> None:
    status, _out, err = baomi("ledger", "prove", "99999999999999999999")
    assert status == 1
    with translation.override("en"):
        assert f"error [proof_unavailable]: {ledger_message('proof_unavailable')}" in err


@pytest.mark.django_db
def test_a_failed_verification_names_the_code_in_words(baomi: Any) -> None:
    _fill(3)
    with connection.cursor() as cur:
        cur.execute("UPDATE audit_ledgerentry SET data = %s WHERE seq = 1", [b'{"not json'])
    status, out, _err = baomi("ledger", "verify")
    assert status == 1
    head, reason = out.splitlines()[:2]
    code = head.split("[", 1)[1].split("]", 1)[0]
    with translation.override("en"):
        assert head.endswith(ledger_message(code)) and "seq 1" in head
    assert reason.startswith("  ") and "seq 1" in reason


@pytest.mark.django_db
def test_verify_reports_progress_on_stderr_only_when_asked(baomi: Any) -> None:
    import json

    _fill(5)
    size = selectors.ledger_state().size
    status, out, err = baomi("ledger", "verify", "--json", "--jobs", "1")
    assert status == 0 and err == ""  # (stderr is not a terminal here)
    plain = json.loads(out)
    status, out, err = baomi("ledger", "verify", "--json", "--jobs", "1", "--progress")
    assert status == 0 and json.loads(out).keys() == plain.keys()  # stdout: the JSON only
    lines = err.splitlines()
    assert lines[0] == f"verifying: 0 of {size:,} entries (0%)"
    assert lines[-1] == f"verifying: {size:,} of {size:,} entries (100%)"


# --- A data directory never migrated --------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["verify"],
        ["verify", "--json"],
        ["show"],
        ["prove", "0"],
        ["checkpoint"],
        ["reindex"],
    ],
)
def test_ledger_commands_before_migrate_say_so(tmp_path: Path, args: list[str]) -> None:
    r = run(["ledger", *args], tmp_path / "data")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    # (In the default language, Chinese: the command's name is the same in every one.)
    assert r.stderr.startswith("error: ") and "`baomi migrate`" in r.stderr
    assert not (tmp_path / "data" / "baomi.sqlite3").exists() or _no_tables(tmp_path / "data")


def _no_tables(data_dir: Path) -> bool:
    import sqlite3

    with sqlite3.connect(data_dir / "baomi.sqlite3") as db:
        return not db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
