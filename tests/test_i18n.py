"""The Chinese catalogue is complete and the compiled file matches it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PO = Path(__file__).resolve().parent.parent / "baomi/locale/zh_Hans/LC_MESSAGES/django.po"


@pytest.fixture
def msgfmt() -> str:
    tool = shutil.which("msgfmt")
    if tool is None:
        pytest.skip("gettext's msgfmt is not installed (scripts/test installs it)")
    return tool


def test_every_message_is_translated(msgfmt: str, tmp_path: Path):
    result = subprocess.run([msgfmt, "--check", "--statistics", "-o", str(tmp_path / "x.mo"),
                             str(PO)], capture_output=True, text=True, check=True)
    stats = result.stderr
    assert "untranslated" not in stats and "fuzzy" not in stats, stats


def test_compiled_catalogue_is_up_to_date(msgfmt: str, tmp_path: Path):
    fresh = tmp_path / "django.mo"
    subprocess.run([msgfmt, "-o", str(fresh), str(PO)], check=True)
    assert fresh.read_bytes() == PO.with_suffix(".mo").read_bytes(), (
        "run: msgfmt -o baomi/locale/zh_Hans/LC_MESSAGES/django.mo <the .po>"
    )
