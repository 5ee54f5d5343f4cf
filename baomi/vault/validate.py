"""Checks and normal forms for the values the vault seals: ID numbers, mobile numbers,
bank accounts, e-mail addresses.

Every way in (web forms, the API, imports, services called by other code) runs the same
check and stores the same normal form, so a blind-index search finds what was typed in
any of its usual shapes, and nothing a form would refuse is stored by another route.
Each cleaner returns ``(normal form, localized problem or None)``; "" is no value and
no problem.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping

from django.utils import timezone
from django.utils.translation import gettext as _

from baomi.detect import checks
from baomi.detect.detectors import detect
from baomi.detect.model import CN_MOBILE
from baomi.vault import normalize

# Passport and residence/travel permit numbers: one or two letters then digits (E12345678,
# EA1234567, C12345678, H1234567890). Checked for shape only: they carry no check digit.
_DOCUMENT_NUMBER = re.compile(r"[A-Z]{1,2}[0-9]{6,10}")


def id_number_clean(value: str) -> tuple[str, str | None]:
    """(normalized ID number, localized problem or None) for a person's ID number.

    18-character resident IDs are checked for region, birth date and the GB 11643 check
    character, 15-digit (pre-1999) IDs for region and birth date; passport and permit
    numbers for their shape. "" is no value and no problem.
    """
    text = normalize.id_number(value)
    if not text:
        return "", None
    today = timezone.localdate()
    if len(text) == 18 and text[:17].isdigit():
        if not checks.resident_id_ok(text, today=today):
            if text[17] != checks.resident_id_check(text[:17]):
                return text, _(
                    "The check character (last character) of this ID number is wrong: "
                    "check the number for a typing error."
                )
            return text, _("Not a valid resident ID number (region or birth date).")
        return text, None
    if len(text) == 15 and text.isdigit():
        if not checks.legacy_resident_id_ok(text, today=today):
            return text, _("Not a valid resident ID number (region or birth date).")
        return text, None
    if _DOCUMENT_NUMBER.fullmatch(text):
        return text, None
    return text, _(
        "Enter an 18-character resident ID number, or a passport or permit number."
    )


def mobile_clean(value: str) -> tuple[str, str | None]:
    """(11-digit mobile number, localized problem or None); +86 / 0086 may precede it and
    spaces or dashes may group it. The number must be in the mainland mobile number plan
    (the same rule the leak detector uses). "" is no value and no problem."""
    if not value.strip():
        return "", None
    digits = normalize.phone(value)
    raw = unicodedata.normalize("NFKC", value)
    if re.fullmatch(r"[0-9+\s\-()]+", raw) is None or len(digits) != 11:
        return value.strip(), _("Enter an 11-digit mobile number, e.g. 138 0013 8000.")
    found = [(f.type, f.value) for f in detect(digits)]
    if found != [(CN_MOBILE, digits)]:
        return value.strip(), _("This is not a mobile number in the mainland number plan.")
    return digits, None


def bank_account_clean(value: str) -> tuple[str, str | None]:
    """(bank account as digits and letters, localized problem or None). Corporate
    accounts (对公账户) carry no Luhn digit, so only the shape is checked."""
    if not value.strip():
        return "", None
    text = normalize.account(value)
    raw = unicodedata.normalize("NFKC", value)
    if re.fullmatch(r"[0-9A-Za-z\s\-]+", raw) is None or not 8 <= len(text) <= 32:
        return value.strip(), _(
            "Enter the account number: 8 to 32 digits or letters (spaces are allowed)."
        )
    return text, None


def _email_problem(value: str) -> str | None:
    if value and ("@" not in value or any(ch.isspace() for ch in value)):
        return str(_("Enter a valid e-mail address."))
    return None


# Sealed fields whose values have a checkable shape, and their cleaners.
_SEALED_CHECKS: dict[str, Callable[[str], tuple[str, str | None]]] = {
    "legal_rep_id_number": id_number_clean,
    "id_number": id_number_clean,
    "mobile": mobile_clean,
    "bank_account": bank_account_clean,
    "email": lambda value: (value.strip(), _email_problem(value.strip())),
}


def checked_sealed(
    values: Mapping[str, str | None], errors: dict[str, list[str]]
) -> dict[str, str | None]:
    """`values` (sealed field → value, None: unchanged, "": clear) with ID numbers, mobile
    numbers, bank accounts and e-mail addresses normalized, and their problems added to
    `errors`. The same checks the web forms make, so the API and imports cannot store
    what a form would refuse."""
    out: dict[str, str | None] = {}
    for name, value in values.items():
        check = _SEALED_CHECKS.get(name)
        if value is None or check is None:
            out[name] = value
            continue
        text, problem = check(value)
        if problem:
            errors.setdefault(name, []).append(str(problem))
        out[name] = text
    return out
