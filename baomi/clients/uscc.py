"""Unified social credit codes (统一社会信用代码, GB 32100-2015).

18 characters from a 31-symbol alphabet (digits and upper-case letters without
I, O, Z, S, V); the last is a MOD 31 check character over the first 17.
"""

from __future__ import annotations

import unicodedata

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUES = {ch: i for i, ch in enumerate(ALPHABET)}
_WEIGHTS = [pow(3, i, 31) for i in range(17)]


def normalize(raw: str) -> str:
    """Full-width to ASCII, spaces and hyphens removed, upper-case."""
    text = unicodedata.normalize("NFKC", raw)
    return "".join(ch for ch in text if ch not in " -\t").upper()


def check_character(first17: str) -> str:
    """The GB 32100 check character for 17 code characters. Raises ValueError."""
    if len(first17) != 17 or any(ch not in _VALUES for ch in first17):
        raise ValueError("need 17 characters from the GB 32100 alphabet")
    total = sum(_VALUES[ch] * w for ch, w in zip(first17, _WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def is_valid(code: str) -> bool:
    """True if `code` (already normalized) is a well-formed USCC with a correct check."""
    if len(code) != 18 or any(ch not in _VALUES for ch in code):
        return False
    return check_character(code[:17]) == code[17]
