"""The `baomi` command as an operator runs it: real processes, real HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

BAOMI = [sys.executable, "-m", "baomi.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAOMI_")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update({"BAOMI_DATA_DIR": str(data_dir), **extra})
    return env


def run(args: list[str], data_dir: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BAOMI, *args], env=_env(data_dir, **extra), capture_output=True,
                          text=True, timeout=180, check=False)


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    req = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (loopback only)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_help_is_english(tmp_path: Path):
    # A clean environment, as an operator has it: no Django settings module yet.
    env = _env(tmp_path / "unused")
    out = subprocess.run([*BAOMI, "--help"], capture_output=True, text=True, check=True,
                         env=env).stdout
    for cmd in ("up", "demo", "token", "check", "scan", "bench"):
        assert cmd in out
    up = subprocess.run([*BAOMI, "up", "--help"], capture_output=True, text=True, check=True,
                        env=env)
    assert "--data-dir" in up.stdout and "--cert" in up.stdout


def test_up_serves_chinese_login_and_stops_cleanly(data_dir: Path):
    port = _free_port()
    proc = subprocess.Popen(
        [*BAOMI, "up", "--port", str(port), "--workers", "1"],
        env=_env(data_dir, BAOMI_ADMIN_PASSWORD="First-Admin-Pass-1"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 90
        status = 0
        while time.monotonic() < deadline:
            try:
                status, body, headers = _get(f"http://127.0.0.1:{port}/accounts/login/")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        assert status == 200
        assert "登录" in body and 'lang="zh-CN"' in body
        assert "Content-Security-Policy" in headers
        status, css, _ = _get(f"http://127.0.0.1:{port}/static/baomi/app.css")
        assert status == 200 and ".topbar" in css
        status, health, _ = _get(f"http://127.0.0.1:{port}/healthz")
        assert json.loads(health)["database"] == "ok"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "Baomi stopped." in out
    assert "GET /healthz" not in out  # no access log unless asked for (--access-log)
    # First run created the data directory and its secrets with tight permissions.
    for name in ("master.key", "secret_key", "baomi.sqlite3", "ledger-signing.key"):
        mode = stat.S_IMODE((data_dir / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    assert (data_dir / "baomi.sqlite3").exists()
    assert "First-Admin-Pass-1" not in out
    # The SQLite database runs in WAL mode.
    import sqlite3

    with sqlite3.connect(data_dir / "baomi.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_demo_token_check(data_dir: Path):
    first = run(["demo"], data_dir, BAOMI_DEMO_PASSWORD="Demo-Pass-123")
    assert first.returncode == 0, first.stderr
    assert "acct1" in first.stdout and "compliance" in first.stdout
    second = run(["demo"], data_dir, BAOMI_DEMO_PASSWORD="Demo-Pass-123")
    assert second.returncode == 0
    count = run(["manage", "shell", "-c",
                 "from baomi.clients.models import Client;print(Client.objects.count())"], data_dir)
    assert count.stdout.strip().splitlines()[-1] == "20"
    # The demo's agreements are registered as the registry requires: each with its
    # signed scan, sealed by the vault.
    scans = run(["manage", "shell", "-c",
                 "from baomi.access.models import ConfidentialityAgreement as A;"
                 "print(A.objects.count(), A.objects.filter(scan_sha256='').count())"],
                data_dir)
    total, without = map(int, scans.stdout.strip().splitlines()[-1].split())
    assert total > 0 and without == 0
    # Each use of the escape hatch is recorded (the command's name, not its arguments).
    used = run(["manage", "shell", "-c", "from baomi.audit.models import LedgerEntry as L;"
                "print([e.object_id for e in L.objects.filter(action='admin.manage')])"],
               data_dir)
    assert used.stdout.strip().splitlines()[-1] == "['shell', 'shell', 'shell']"

    created = run(["token", "create", "acct1", "--expires", "7"], data_dir)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("bm_")
    missing = run(["token", "create", "nobody"], data_dir)
    assert missing.returncode == 1 and "no user" in missing.stderr

    check = run(["check"], data_dir)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "no problems" in check.stdout

    revoked = run(["token", "revoke", token], data_dir)
    assert revoked.returncode == 0


def test_check_reports_problems(data_dir: Path):
    assert run(["migrate"], data_dir).returncode == 0
    (data_dir / "master.key").chmod(0o644)
    bad = run(["check"], data_dir, BAOMI_DEBUG="1", BAOMI_ALLOWED_HOSTS="baomi.example.com")
    assert bad.returncode == 1
    assert "baomi.E001" in bad.stdout  # DEBUG
    assert "baomi.E003" in bad.stdout  # non-loopback host without HTTPS
    assert "baomi.E004" in bad.stdout  # key file mode
    https = run(["check"], data_dir, BAOMI_ALLOWED_HOSTS="baomi.example.com", BAOMI_HTTPS="1")
    assert "baomi.E003" not in https.stdout


def test_acct1_sees_only_own_clients_over_http(data_dir: Path):
    assert run(["demo"], data_dir, BAOMI_DEMO_PASSWORD="Demo-Pass-123").returncode == 0
    token = run(["token", "create", "acct1"], data_dir).stdout.strip().splitlines()[-1]
    admin_token = run(["token", "create", "admin"], data_dir).stdout.strip().splitlines()[-1]
    port = _free_port()
    proc = subprocess.Popen([*BAOMI, "up", "--port", str(port), "--workers", "1",
                             "--no-scheduler", "--access-log"], env=_env(data_dir),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/api/v1/clients?limit=200"
        deadline = time.monotonic() + 90
        while True:
            try:
                status, body, _ = _get(url, {"Authorization": f"Bearer {token}"})
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        assert status == 200
        assert json.loads(body)["count"] == 5
        _, body, _ = _get(url, {"Authorization": f"Bearer {admin_token}"})
        assert json.loads(body)["count"] == 20
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    # --access-log prints a line per request; the token never appears in it.
    assert "GET /api/v1/clients?limit=200" in out
    assert token not in out and admin_token not in out


def test_https_with_cert(data_dir: Path, tmp_path: Path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    port = _free_port()
    proc = subprocess.Popen([*BAOMI, "up", "--port", str(port), "--workers", "1",
                             "--no-scheduler", "--cert", str(cert), "--key", str(key)],
                            env=_env(data_dir), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    import ssl

    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = False
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(
                    f"https://127.0.0.1:{port}/accounts/login/", context=ctx, timeout=10
                ) as resp:
                    headers = dict(resp.headers)
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        assert "max-age=31536000" in headers["Strict-Transport-Security"]
        assert "Secure" in headers["Set-Cookie"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
