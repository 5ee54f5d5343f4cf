"""Every kind of action writes its ledger entry; the ledger fails closed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client as HttpClient

from baomi.accounts import services
from baomi.accounts.models import Role
from baomi.audit.models import LedgerEntry
from baomi.clients.models import Client
from baomi.testing.ledger_faults import inject_ledger_faults
from conftest import PASSWORD, totp_now

pytestmark = pytest.mark.django_db


def actions() -> list[tuple[str, str, str]]:
    return list(LedgerEntry.objects.order_by("seq").values_list("actor", "action", "decision"))


def test_auth_events_are_recorded(make_user, enrol_totp):
    user = make_user("mgr", role=Role.MANAGER)
    device = enrol_totp(user)
    c = HttpClient()
    c.post("/accounts/login/", {"username": "mgr", "password": "wrong-one"})
    c.post("/accounts/login/", {"username": "nobody", "password": "x"})
    c.post("/accounts/login/", {"username": "mgr", "password": PASSWORD})
    c.post("/accounts/login/verify/", {"otp_token": "000000"})
    import time

    time.sleep(1.1)
    c.post("/accounts/login/verify/", {"otp_token": totp_now(device)})
    c.post("/accounts/logout/")
    got = actions()
    assert ("mgr", "auth.login", "refused") in got
    assert ("unknown-user", "auth.login", "refused") in got
    assert ("mgr", "auth.password_ok", "allowed") in got
    assert ("mgr", "auth.2fa", "refused") in got
    assert ("mgr", "auth.2fa", "allowed") in got
    assert ("mgr", "auth.logout", "allowed") in got


def test_token_permission_and_record_events(make_user, make_client):
    admin = make_user("boss", role=Role.ADMIN)
    acct = make_user("acct1")
    issued = services.token_create(user=admin, actor="cli:root")
    services.user_update(user=acct, clearance="confidential", actor=admin)
    client = make_client(acct)
    api = HttpClient(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    api.get(f"/api/v1/clients/{client.pk}")
    api.patch(
        f"/api/v1/clients/{client.pk}",
        {"legal_representative": "李四"},
        content_type="application/json",
    )
    HttpClient(HTTP_AUTHORIZATION="Bearer bm_forged_forged").get("/api/v1/clients")
    services.user_deactivate(user=acct, actor=admin, left=True)
    services.token_revoke(prefix=issued.token.prefix, actor="cli:root")
    got = actions()
    for expected in [
        ("cli:root", "token.create", "allowed"),
        ("boss", "permission.change", "allowed"),
        ("boss", "client.read", "allowed"),
        ("boss", "client.update", "allowed"),
        ("unknown-token", "auth.token", "refused"),
        ("boss", "staff.deactivate", "allowed"),
        ("cli:root", "token.revoke", "allowed"),
    ]:
        assert expected in got, expected
    change = LedgerEntry.objects.get(action="permission.change")
    assert "clearance:internal->confidential" in change.reason
    update = LedgerEntry.objects.get(action="client.update")
    assert update.reason == "legal_representative"  # field names, never values


def test_refusals_are_recorded(make_user, make_client):
    a1, a2 = make_user("a1"), make_user("a2")
    other = make_client(a2)
    token = services.token_create(user=a1).plaintext
    r = HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}").get(f"/api/v1/clients/{other.pk}")
    assert r.status_code == 404
    entry = LedgerEntry.objects.filter(action="client.read", decision="refused").get()
    assert entry.actor == "a1" and entry.reason == "not_assigned"  # the policy's rule
    assert entry.client_id == str(other.pk)


def test_request_metadata_is_recorded(make_user):
    make_user("meta1")
    c = HttpClient(HTTP_USER_AGENT="BaomiTest/1.0", HTTP_X_REQUEST_ID="req-1234567890")
    c.post("/accounts/login/", {"username": "meta1", "password": PASSWORD})
    entry = LedgerEntry.objects.filter(action="auth.login", decision="allowed").last()
    data = json.loads(bytes(entry.data))
    assert data["request"]["user_agent"] == "BaomiTest/1.0"
    assert data["request"]["request_id"] == "req-1234567890"
    assert data["request"]["ip"] == "127.0.0.1"


# --- fail closed ------------------------------------------------------------------------


def _entries_by_request() -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for data in LedgerEntry.objects.values_list("data", flat=True):
        obj = json.loads(bytes(data))
        out.setdefault(obj["request"].get("request_id", ""), []).append(
            (obj["action"], obj["decision"])
        )
    return out


@pytest.mark.parametrize("percent", [20, 100])
def test_no_action_takes_effect_without_its_entry(make_user, make_client, percent):
    admin = make_user("boss", role=Role.ADMIN)
    clients = [make_client(admin, name=f"故障注入{i}有限公司") for i in range(5)]
    token = services.token_create(user=admin).plaintext
    api = HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    inject_ledger_faults(percent)
    outcomes: list[tuple[str, str, int, int]] = []  # (kind, request id, client pk, status)
    for i in range(40):
        client = clients[i % 5]
        rid = f"fault-test-{i:04d}"
        if i % 2:
            r = api.get(f"/api/v1/clients/{client.pk}", HTTP_X_REQUEST_ID=rid)
            outcomes.append(("read", rid, client.pk, r.status_code))
        else:
            r = api.patch(
                f"/api/v1/clients/{client.pk}",
                {"legal_representative": f"法人{i}"},
                content_type="application/json",
                HTTP_X_REQUEST_ID=rid,
            )
            outcomes.append((f"法人{i}", rid, client.pk, r.status_code))
        assert r.status_code in (200, 503), r.content
        if r.status_code == 503:
            assert r.json()["code"] == "ledger_unavailable"
    by_request = _entries_by_request()
    for kind, rid, _pk, status in outcomes:
        entries = by_request.get(rid, [])
        if kind == "read":
            # Data was returned if and only if its read entry was written.
            assert (status == 200) == (("client.read", "allowed") in entries), (rid, entries)
        else:
            # The change took effect if and only if its entry was written.
            assert (status == 200) == (("client.update", "allowed") in entries), (rid, entries)
    for pk in {c.pk for c in clients}:
        done = [kind for kind, _, p, s in outcomes if kind != "read" and p == pk and s == 200]
        current = Client.objects.get(pk=pk).legal_representative
        assert current == (done[-1] if done else "张三")
    statuses = {status for *_, status in outcomes}
    if percent == 100:
        assert statuses == {503}
    else:
        assert statuses == {200, 503}


def test_web_login_is_refused_when_the_ledger_fails(make_user):
    make_user("acct9")
    inject_ledger_faults(100)
    c = HttpClient()
    r = c.post("/accounts/login/", {"username": "acct9", "password": PASSWORD})
    assert r.status_code == 503
    assert c.get("/").status_code == 302


# --- nothing secret or client data in the ledger or the logs --------------------------------


@pytest.mark.django_db(transaction=True)
def test_canaries_never_reach_the_ledger_or_logs(make_user, tmp_path, capfd, caplog):
    canary_pw = "CanaryPassword-7f3a9"
    canary_name = "金丝雀标记有限公司"
    canary_rep = "金丝雀法人"
    admin = make_user("canaryadmin", role=Role.ADMIN, password=canary_pw)
    token = services.token_create(user=admin).plaintext
    api = HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    r = api.post(
        "/api/v1/clients",
        {"name": canary_name, "uscc": "91350100M000100Y43", "legal_representative": canary_rep},
        content_type="application/json",
    )
    assert r.status_code == 201
    cid = r.json()["id"]
    api.patch(
        f"/api/v1/clients/{cid}",
        {"legal_representative": canary_rep + "2"},
        content_type="application/json",
    )
    api.get(f"/api/v1/clients?q={canary_name}")
    HttpClient().post("/accounts/login/", {"username": "canaryadmin", "password": canary_pw})
    HttpClient().post("/accounts/login/", {"username": canary_pw, "password": canary_pw})
    sinks = [bytes(d).decode() for d in LedgerEntry.objects.values_list("data", flat=True)]
    sinks += [
        " ".join(map(str, row))
        for row in LedgerEntry.objects.values_list(
            "actor", "action", "object_id", "purpose", "reason"
        )
    ]
    out, err = capfd.readouterr()
    sinks += [out, err, caplog.text]
    secret_part = token.split("_", 2)[2]
    for canary in (canary_pw, canary_name, canary_rep, secret_part):
        for sink in sinks:
            assert canary not in sink, canary


# --- CLI ------------------------------------------------------------------------------------


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAOMI_", "DJANGO_"))}
    env["BAOMI_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "baomi.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_ledger_cli(tmp_path: Path):
    data = tmp_path / "d"
    assert _cli(data, "demo").returncode == 0
    assert _cli(data, "token", "create", "acct1").returncode == 0
    r = _cli(data, "ledger", "checkpoint", "--export", str(tmp_path / "cp.txt"))
    assert r.returncode == 0, r.stderr
    v = _cli(data, "ledger", "verify")
    assert v.returncode == 0 and "ledger intact" in v.stdout, v.stdout + v.stderr
    show = _cli(
        data, "ledger", "show", "--actor", "cli:" + __import__("getpass").getuser(), "--json"
    )
    rows = [json.loads(line) for line in show.stdout.splitlines()]
    assert any(r["action"] == "token.create" for r in rows)
    prove = _cli(data, "ledger", "prove", "3")
    proof = json.loads(prove.stdout)
    from baomi.ledger.checkpoint import checkpoint_verify
    from baomi.ledger.hashing import sha256
    from baomi.ledger.proof import verify_inclusion

    cp = checkpoint_verify(
        {proof["key_name"]: bytes.fromhex(proof["public_key"])}, proof["checkpoint"]
    )
    verify_inclusion(
        sha256,
        3,
        proof["tree_size"],
        bytes.fromhex(proof["leaf_hash"]),
        [bytes.fromhex(h) for h in proof["proof"]],
        cp.root,
    )
    assert _cli(data, "token", "create", "acct2").returncode == 0
    cons = _cli(data, "ledger", "consistency", str(tmp_path / "cp.txt"))
    assert cons.returncode == 0 and "consistent" in cons.stdout, cons.stdout + cons.stderr
    # A damaged filter index: verify says so, reindex rebuilds it (and is recorded).
    import sqlite3

    with sqlite3.connect(data / "baomi.sqlite3") as db:
        db.execute("INSERT OR IGNORE INTO audit_ledgerlookup "
                   "SELECT seq, actor, client_id FROM audit_ledgerentry")
        db.execute("UPDATE audit_ledgerlookup SET actor = 'mallory' WHERE seq = 1")
    bad_index = _cli(data, "ledger", "verify")
    assert bad_index.returncode == 1 and "index_mismatch" in bad_index.stdout, bad_index.stdout
    reindex = _cli(data, "ledger", "reindex")
    assert reindex.returncode == 0 and "filter index rebuilt" in reindex.stdout, reindex.stderr
    assert _cli(data, "ledger", "verify").returncode == 0
    shown = _cli(data, "ledger", "show", "--action", "ledger.reindex", "--json")
    assert [json.loads(line)["action"] for line in shown.stdout.splitlines()] == [
        "ledger.reindex"
    ]
    # Tamper with one entry directly in the database file: verify names it.
    with sqlite3.connect(data / "baomi.sqlite3") as db:
        blob = db.execute("SELECT data FROM audit_ledgerentry WHERE seq = 2").fetchone()[0]
        db.execute(
            "UPDATE audit_ledgerentry SET data = ? WHERE seq = 2",
            (re.sub(rb'"actor":"[^"]*"', b'"actor":"mallory"', blob),),
        )
    bad = _cli(data, "ledger", "verify")
    assert bad.returncode == 1
    assert "seq 2" in bad.stdout
