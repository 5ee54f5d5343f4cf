"""Done-when test: a marker planted in a document, a client record and a contact is
found in no form (plain, UTF-8/UTF-16, base64, hex) anywhere under the data directory:
database, WAL, blobs, temporary files.

It runs the real thing in a child process with a real data directory (file SQLite in
WAL mode, local blob store, key file), going through HTTP requests to the upload, the
contact and the client endpoints, and downloading the document again.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

MARKER = "BAOMI-MARKER-7f3a9c 绝密标记"

SCRIPT = r"""
import io, os, sys
import django
django.setup()
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
from baomi.access.context import session_facts
from baomi.accounts.services import department_get_or_create, user_create
from baomi.clients.services import ClientInput, client_create
from conftest import give_agreement_and_training, verified_client
marker = os.environ["MARKER"]
# A manager cleared for 机密, with agreement and training, in a two-factor session: the
# policy lets them create the client and read its confidential data.
mgr = user_create(username="mgr1", password="x" * 12, role="manager", validate=False,
                  clearance="confidential", department=department_get_or_create(name="一部"))
give_agreement_and_training(mgr)
with session_facts(mfa_verified=True):
    client = client_create(actor=mgr, data=ClientInput(
        name="标记测试有限公司", uscc="91310115945807305X", legal_representative="张三",
        status="active", notes="备注 " + marker, legal_rep_id_number="11010519491231002X"))
http = verified_client(mgr)
r = http.post(f"/api/v1/clients/{client.pk}/contacts",
              {"name": "联系人", "mobile": "13800138000", "notes": marker, "email": "a@b.cn"},
              content_type="application/json")
assert r.status_code == 201, r.content
text = "head " * 50000 + marker + " tail" * 1000
doc = io.BytesIO(text.encode("utf-8") + marker.encode("utf-16-le"))
doc.name = "plain.txt"
r = http.post(f"/api/v1/clients/{client.pk}/documents",
              {"file": doc, "level": "confidential", "category": "trade_secret",
               "title": "机密文件"})
assert r.status_code == 201, r.content
doc_id = r.json()["id"]
r = http.get(f"/api/v1/documents/{doc_id}/content", {"purpose": "核对"})
body = b"".join(r.streaming_content)
assert marker.encode() in body, "download must return the plaintext"
r = http.get(f"/api/v1/clients/{client.pk}/contacts", {"purpose": "核对"})
assert r.json()[0]["notes"] == marker
r = http.get(f"/api/v1/clients/{client.pk}/sensitive", {"purpose": "核对"})
assert marker in r.json()["notes"]
from django.db import connection
connection.close()
print("OK")
"""


def _forms(marker: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for enc in ("utf-8", "utf-16-le", "utf-16-be", "gb18030"):
        raw = marker.encode(enc)
        out[enc] = raw
        out[f"hex-{enc}"] = raw.hex().encode()
        for shift in range(3):
            b64 = base64.b64encode(b"\0" * shift + raw)
            # Drop the characters that depend on neighbouring bytes.
            out[f"base64-{enc}-{shift}"] = b64[4:-4]
            out[f"b64url-{enc}-{shift}"] = base64.urlsafe_b64encode(b"\0" * shift + raw)[4:-4]
    return out


@pytest.mark.slow
def test_marker_is_nowhere_under_the_data_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = dict(
        os.environ,
        BAOMI_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="baomi.settings",
        MARKER=MARKER,
        BAOMI_ALLOWED_HOSTS="testserver",
        TMPDIR=str(data_dir / "tmp"),
    )
    env.pop("BAOMI_DATABASE_URL", None)
    (data_dir / "tmp").mkdir(parents=True)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert "baomi.sqlite3" in names
    assert any(p.suffix == ".bms" for p in files), "the document blob is there"
    forms = _forms(MARKER)
    hits = []
    for path in files:
        data = path.read_bytes()
        hits.extend(
            f"{path.relative_to(data_dir)}: {name}" for name, f in forms.items() if f in data
        )
    assert hits == []
    # The marker really was written and read back (the child asserted it); and the
    # search is not vacuous: the same scan finds a planted copy.
    probe = data_dir / "probe.bin"
    probe.write_bytes(b"xx" + base64.b64encode(MARKER.encode("utf-16-le")) + b"yy")
    assert any(f in probe.read_bytes() for f in forms.values())
