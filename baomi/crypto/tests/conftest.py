"""Fixtures for the crypto tests: deterministic randomness and a throwaway SoftHSM2 token."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from baomi.crypto.tests.helpers import DetRand

SOFTHSM_LIB = "/usr/lib/softhsm/libsofthsm2.so"


@pytest.fixture
def det_rand() -> DetRand:
    return DetRand(b"baomi-test")


@dataclass(frozen=True)
class SoftHsm:
    lib_path: str
    token_label: str
    pin: str


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    """A fresh SoftHSM2 token in a temporary directory, for the whole session.

    SOFTHSM2_CONF must be set before the PKCS#11 library is first loaded in this
    process (SoftHSM reads it once, in C_Initialize).
    """
    if not Path(SOFTHSM_LIB).exists() or shutil.which("softhsm2-util") is None:
        pytest.skip(f"SoftHSM2 is not installed ({SOFTHSM_LIB} missing); apt-get install softhsm2")
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {base}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "baomi-test",
         "--pin", "1234", "--so-pin", "5678"],
        check=True,
        capture_output=True,
    )
    yield SoftHsm(SOFTHSM_LIB, "baomi-test", "1234")
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous
