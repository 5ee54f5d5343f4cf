"""`baomi bench vault --http`: documents over HTTP through `baomi up`.

Starts `baomi up` (gunicorn, 1 worker) on a throwaway data directory and measures, in
the same run:

- upload of a SIZE document (multipart, sealed while it arrives) in MB/s;
- download of it (verified, then streamed through the cipher) beside a static file of
  the same size served by the same server (WhiteNoise), and their ratio;
- peak RSS of the server processes while a BIG document (default 2 GiB) is uploaded and
  downloaded, against their idle RSS.

Usage: python -m baomi.bench.vault_http [--size 256M] [--big 2G] [--rounds 5] [--json] [--keep]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from baomi.bench.server import baomi_up

MiB = 1024 * 1024
BLOCK = os.urandom(MiB)


def _size(text: str) -> int:
    units = {"K": 1024, "M": MiB, "G": 1024 * MiB}
    text = text.strip().upper()
    if text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def _tree_pids(root: int) -> list[int]:
    pids = [root]
    out = []
    while pids:
        pid = pids.pop()
        out.append(pid)
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        pids.extend(int(c) for c in children)
    return out


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def _server_rss(root: int) -> dict[int, int]:
    """RSS per gunicorn process (the master and its workers; not the scheduler)."""
    return {p: _rss(p) for p in _tree_pids(root) if p != root}


class RssSampler:
    def __init__(self, root: int) -> None:
        self.root = root
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, max(_server_rss(self.root).values(), default=0))
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _body(size: int) -> Iterator[bytes]:
    left = size
    while left > 0:
        n = min(left, MiB)
        yield BLOCK[:n]
        left -= n


def upload(port: int, token: str, client_id: int, size: int, name: str) -> tuple[int, float]:
    boundary = "baomi-bench-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="level"\r\n\r\ninternal\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="category"\r\n\r\nother\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.putrequest("POST", f"/api/v1/clients/{client_id}/documents")
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head) + size + len(tail)))
    conn.endheaders()
    t0 = time.perf_counter()
    conn.send(head)
    for piece in _body(size):
        conn.send(piece)
    conn.send(tail)
    resp = conn.getresponse()
    data = resp.read()
    elapsed = time.perf_counter() - t0
    if resp.status != 201:
        raise RuntimeError(f"upload failed: {resp.status} {data[:300]!r}")
    return int(json.loads(data)["id"]), elapsed


def download(port: int, path: str, token: str | None = None) -> tuple[int, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    t0 = time.perf_counter()
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"GET {path}: {resp.status} {resp.read()[:300]!r}")
    total = 0
    buf = bytearray(MiB)
    view = memoryview(buf)
    while n := resp.readinto(view):
        total += n
    return total, time.perf_counter() - t0


SETUP = r"""
import django, json
django.setup()
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
from baomi.accounts.services import token_create, user_create
from baomi.clients.services import ClientInput, client_create
admin = user_create(username="bench", password=None, role="admin", validate=False)
client = client_create(actor=admin, data=ClientInput(name="基准测试有限公司",
    uscc="91310115945807305X", legal_representative="张三", status="active"))
# Reads above 公开 need an agreement and training in force (access governance).
from datetime import timedelta
from django.utils import timezone
from baomi.access.services import agreement_record, training_record
now = timezone.now()
# Recorded by a compliance officer: nobody records their own (self_action).
registrar = user_create(username="bench-compliance", password=None, role="compliance",
                        validate=False)
agreement_record(actor=registrar, person=admin, kind="employee",
    valid_from=now - timedelta(days=1), valid_to=now + timedelta(days=30),
    scan=b"%PDF-1.4 bench", scan_name="bench.pdf")
training_record(actor=registrar, person=admin, course="bench",
    valid_from=now - timedelta(days=1), valid_to=now + timedelta(days=30))
print(json.dumps({"token": token_create(user=admin).plaintext, "client": client.pk}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="baomi bench vault --http")
    parser.add_argument("--size", default="256M", help="document for the throughput runs")
    parser.add_argument("--big", default="2G", help="document for the RSS run (0 = skip)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved download rounds")
    args = parser.parse_args(argv)
    size, big = _size(args.size), _size(args.big)
    base = Path(tempfile.mkdtemp(prefix="baomi-bench-http-"))
    env = dict(
        os.environ,
        BAOMI_DATA_DIR=str(base),
        DJANGO_SETTINGS_MODULE="baomi.settings",
        BAOMI_MAX_UPLOAD_BYTES=str(max(size, big) + MiB),
        BAOMI_LOG_LEVEL="WARNING",
    )
    env.pop("BAOMI_DATABASE_URL", None)
    setup = subprocess.run(
        [sys.executable, "-c", SETUP], env=env, capture_output=True, text=True, check=True
    )
    info = json.loads(setup.stdout.strip().splitlines()[-1])
    static_dir = base / "static"
    static_dir.mkdir(exist_ok=True)
    with open(static_dir / "bench-static.bin", "wb") as fh:
        for piece in _body(size):
            fh.write(piece)
    result: dict[str, Any] = {"size": size, "big": big}
    try:
        with baomi_up(env, workers=1) as (server, port):
            token, client_id = info["token"], info["client"]
            # Warm up both paths once (imports, page cache).
            download(port, "/static/bench-static.bin")
            doc_id, up_s = upload(port, token, client_id, size, "bench.bin")
            result["upload_mb_s"] = size / up_s / 1e6
            download(port, f"/api/v1/documents/{doc_id}/content?purpose=bench", token)
            # Interleaved rounds, same client and read size for both; the order alternates
            # so neither always runs first. Best of each is the figure (as for the crypto
            # bench); the median of the per-round ratios shows how steady it was.
            paths = {
                "vault": (f"/api/v1/documents/{doc_id}/content?purpose=bench", token),
                "static": ("/static/bench-static.bin", None),
            }
            runs: dict[str, list[float]] = {"vault": [], "static": []}
            for i in range(args.rounds):
                for which in ("vault", "static") if i % 2 == 0 else ("static", "vault"):
                    n, t = download(port, *paths[which])
                    if n != size:
                        raise RuntimeError(f"short download: {n} of {size} bytes")
                    runs[which].append(n / t / 1e6)
            result["download_mb_s"] = max(runs["vault"])
            result["static_mb_s"] = max(runs["static"])
            result["download_ratio"] = result["download_mb_s"] / result["static_mb_s"]
            ratios = sorted(v / s for v, s in zip(runs["vault"], runs["static"], strict=True))
            result["download_ratio_median_round"] = ratios[len(ratios) // 2]
            result["download_runs_mb_s"] = runs
            if big:
                time.sleep(1)
                idle = max(_server_rss(server.pid).values())
                with RssSampler(server.pid) as up_rss:
                    big_id, big_up_s = upload(port, token, client_id, big, "big.bin")
                with RssSampler(server.pid) as down_rss:
                    n, big_down_s = download(
                        port, f"/api/v1/documents/{big_id}/content?purpose=bench", token
                    )
                if n != big:
                    raise RuntimeError(f"short download: {n} of {big} bytes")
                result.update(
                    {
                        "idle_rss_mib": idle / MiB,
                        "upload_peak_rss_mib": up_rss.peak / MiB,
                        "download_peak_rss_mib": down_rss.peak / MiB,
                        "upload_rss_growth_mib": (up_rss.peak - idle) / MiB,
                        "download_rss_growth_mib": (down_rss.peak - idle) / MiB,
                        "big_upload_mb_s": big / big_up_s / 1e6,
                        "big_download_mb_s": big / big_down_s / 1e6,
                    }
                )
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"document {size / MiB:.0f} MiB through `baomi up` (1 worker, AES-256-GCM)")
        print(f"  upload                {result['upload_mb_s']:8.0f} MB/s   (target >= 100)")
        print(f"  download (vault)      {result['download_mb_s']:8.0f} MB/s")
        print(f"  download (static)     {result['static_mb_s']:8.0f} MB/s")
        print(f"  ratio vault/static    {result['download_ratio']:8.2f}        (target >= 0.5)")
        print(f"  median round ratio    {result['download_ratio_median_round']:8.2f}")
        print("  rounds (MB/s): vault " + " ".join(f"{x:.0f}" for x in runs["vault"]))
        print("                static " + " ".join(f"{x:.0f}" for x in runs["static"]))
        if big:
            r = result
            print(
                f"peak server RSS, {big / MiB:.0f} MiB document (idle {r['idle_rss_mib']:.0f} MiB)"
            )
            up, upg = r["upload_peak_rss_mib"], r["upload_rss_growth_mib"]
            print(f"  upload   {up:6.0f} MiB (+{upg:.0f})  at {r['big_upload_mb_s']:.0f} MB/s")
            dn, dng = r["download_peak_rss_mib"], r["download_rss_growth_mib"]
            print(f"  download {dn:6.0f} MiB (+{dng:.0f})  at {r['big_download_mb_s']:.0f} MB/s")
            print("  (target: growth <= 64 MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
