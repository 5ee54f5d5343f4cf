"""Helpers shared by the Playwright browser tests (tests/test_browser_*.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from conftest import PASSWORD, totp_now

ARTIFACTS = Path(os.environ.get("BAOMI_TEST_ARTIFACTS", "test-artifacts"))


def sign_in(page: Any, base: str, username: str, device: Any) -> None:
    """Sign in with the test password and a TOTP code; lands on the dashboard."""
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/accounts/login/verify/")
    page.fill("input[name=otp_token]", totp_now(device))
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def shot(page: Any, name: str) -> None:
    """A full-page screenshot into ARTIFACTS, taken from the top (a full-page shot of a
    scrolled page repeats the sticky header)."""
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def no_horizontal_scroll(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
