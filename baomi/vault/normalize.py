"""Normalization for blind indexes: the same on store and on search.

NFKC first (full-width digits and letters become ASCII), then per kind. A value that
normalizes to "" gets no index token.
"""

from __future__ import annotations

import re
import unicodedata

_NON_DIGITS = re.compile(r"\D+")
_SPACES = re.compile(r"[\s\-_./]+")


def _nfkc(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def phone(value: str) -> str:
    """Digits only; a leading +86 / 0086 country code is dropped for 11-digit mobiles."""
    digits = _NON_DIGITS.sub("", _nfkc(value))
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    elif len(digits) == 15 and digits.startswith("0086"):
        digits = digits[4:]
    return digits


def id_number(value: str) -> str:
    """Resident ID / passport numbers: no spaces or dashes, upper case (the X check)."""
    return _SPACES.sub("", _nfkc(value)).upper()


def account(value: str) -> str:
    """Bank account / card numbers: digits and letters only, upper case."""
    return re.sub(r"[^0-9A-Za-z]", "", _nfkc(value)).upper()


def email(value: str) -> str:
    return _nfkc(value).casefold()
