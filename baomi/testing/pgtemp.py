"""A throwaway PostgreSQL server for one test run, from the local binaries.

`initdb` and `pg_ctl` refuse to run as root, so as root they run as the `postgres`
user via `runuser`. Unix socket only (no TCP listener), random port number for the
socket name, durability off because the data is thrown away.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def pg_bin() -> Path:
    """The newest local PostgreSQL bin directory. Raises FileNotFoundError."""
    env = os.environ.get("BAOMI_PG_BIN")
    if env:
        return Path(env)
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )
    if not candidates:
        raise FileNotFoundError("no PostgreSQL server binaries under /usr/lib/postgresql")
    return Path(candidates[-1])


def _cmd(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start() -> dict[str, str]:
    """Start a server; returns connection settings plus `base`/`data` paths."""
    bindir = pg_bin()
    base = tempfile.mkdtemp(prefix="baomi-pg-")
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    data, port = f"{base}/data", _free_port()

    def run(args: list[str]) -> None:
        subprocess.run(_cmd(args), check=True, cwd=base, stdout=subprocess.DEVNULL)  # noqa: S603

    run(
        [
            f"{bindir}/initdb",
            "-D",
            data,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ]
    )
    run(
        [
            f"{bindir}/pg_ctl",
            "-D",
            data,
            "-l",
            f"{base}/server.log",
            "-w",
            "-o",
            f"-p {port} -k {base} -c listen_addresses='' -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            "start",
        ]
    )
    return {"base": base, "data": data, "HOST": base, "PORT": str(port), "USER": "postgres"}


def stop(info: dict[str, str]) -> None:
    subprocess.run(  # noqa: S603
        _cmd([f"{pg_bin()}/pg_ctl", "-D", info["data"], "-m", "fast", "-w", "stop"]),
        cwd=info["base"],
        stdout=subprocess.DEVNULL,
        check=False,
    )
    shutil.rmtree(info["base"], ignore_errors=True)
