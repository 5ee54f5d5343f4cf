"""`baomi up` for the HTTP benchmarks: on a free loopback port, ready when it returns."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def baomi_up(
    env: Mapping[str, str], *, workers: int
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Run `baomi up --workers N --no-scheduler` with `env`; yields (process, port) once
    `/healthz` answers 200 (at most about a minute), and stops it (SIGINT, then kill
    after 30 s) on leaving."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "baomi.cli",
            "up",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-scheduler",
        ],
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("server did not start")
        yield server, port
    finally:
        server.send_signal(2)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
