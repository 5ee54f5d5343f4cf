"""`baomi.policy.text.stated`: what counts as a stated purpose or reason."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baomi.policy.text import stated


@pytest.mark.parametrize(
    "text",
    ["", None, " ", "\u3000", "\u200b", "\u200b\u200c\u2060", "\ufeff", "\x00", "\x1b", "\u202e",
     "\t\n\r", "\x00 \u200b\u3000"],
)
def test_silent_text_states_nothing(text: str | None) -> None:
    assert stated(text) == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("月度记账", "月度记账"),
        ("  月度\u3000 记账 ", "月度 记账"),
        ("报\u200b税", "报税"),
        ("\x1b[2J审计", "[2J审计"),
        ("a\tb\nc", "a b c"),
        ("工商\u202e变更", "工商变更"),
    ],
)
def test_visible_text_is_kept_and_whitespace_collapsed(text: str, expected: str) -> None:
    assert stated(text) == expected


@given(st.text())
def test_the_statement_is_printable_trimmed_and_stable(text: str) -> None:
    out = stated(text)
    assert out == out.strip()
    assert "  " not in out
    assert not any(unicodedata.category(ch) in {"Cc", "Cf"} for ch in out)
    assert all(ch == " " or not ch.isspace() for ch in out)
    assert stated(out) == out
