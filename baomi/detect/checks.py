"""Check-character algorithms and code tables for Chinese identifiers.

Pure functions over already-normalized strings (ASCII digits, upper-case letters). They are
the cheap second stage behind the candidate regex in `detectors`: the regex only finds
shapes, these decide whether a shape is a real identifier.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from functools import lru_cache

# GB/T 2260 province-level codes (first two digits of a resident ID or a USCC region code).
PROVINCES: frozenset[str] = frozenset(
    [
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
    ]
)


def _codes(spec: str) -> frozenset[str]:
    """Expand "01-11 21 90" into two-digit codes."""
    out: set[str] = set()
    for part in spec.split():
        lo, _, hi = part.partition("-")
        for n in range(int(lo), int(hi or lo) + 1):
            out.add(f"{n:02d}")
    return frozenset(out)


# Prefecture-level codes (digits 3-4) per province, current GB/T 2260 plus the historical
# 地区 codes 21-35 that people born before the prefecture reforms still carry in their ID:
# an ID number never changes when its region is renamed or merged, so rejecting old codes
# would miss real people. "01-02" for municipalities covers 市辖区 and the former 县 code.
_LEGACY = " 21-35"
PREFECTURES: dict[str, frozenset[str]] = {
    "11": _codes("01-02"),
    "12": _codes("01-02"),
    "13": _codes("01-11" + _LEGACY),
    "14": _codes("01-11" + _LEGACY),
    "15": _codes("01-09" + _LEGACY),
    "21": _codes("01-14" + _LEGACY),
    "22": _codes("01-08" + _LEGACY),
    "23": _codes("01-12" + _LEGACY),
    "31": _codes("01-02"),
    "32": _codes("01-13" + _LEGACY),
    "33": _codes("01-11" + _LEGACY),
    "34": _codes("01-18" + _LEGACY),
    "35": _codes("01-09" + _LEGACY),
    "36": _codes("01-11" + _LEGACY),
    "37": _codes("01-17" + _LEGACY),
    "41": _codes("01-17 90" + _LEGACY),
    "42": _codes("01-13 90" + _LEGACY),
    "43": _codes("01-13" + _LEGACY),
    "44": _codes("01-20 51-53" + _LEGACY),
    "45": _codes("01-14" + _LEGACY),
    "46": _codes("01-04 90" + _LEGACY),
    "50": _codes("01-03"),
    "51": _codes("01-20" + _LEGACY),
    "52": _codes("01-06" + _LEGACY),
    "53": _codes("01-09" + _LEGACY),
    "54": _codes("01-06" + _LEGACY),
    "61": _codes("01-10" + _LEGACY),
    "62": _codes("01-12" + _LEGACY),
    "63": _codes("01-02" + _LEGACY),
    "64": _codes("01-05" + _LEGACY),
    "65": _codes("01-02 04-05 21-32 40-43 90"),
    # Taiwan, Hong Kong and Macau residents' residence permits use the whole-region code.
    "71": _codes("00"),
    "81": _codes("00"),
    "82": _codes("00"),
}


# The same table as the set of valid first four digits: one lookup per candidate.
REGION_PREFIXES: frozenset[str] = frozenset(
    province + prefecture
    for province, prefectures in PREFECTURES.items()
    for prefecture in prefectures
)


def region_ok(code6: str) -> bool:
    """True if the 6-digit administrative code has a real province and prefecture part.

    County digits (5-6) are not checked: they change too often to keep a table honest, and
    the province + prefecture check already rejects ~97 % of random prefixes.
    """
    return code6[:4] in REGION_PREFIXES


# Every month-day a birth date can have ("0101" … "1231", "0229" included).
MONTH_DAYS: frozenset[str] = frozenset(
    f"{m:02d}{d:02d}"
    for m, last in enumerate((31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31), 1)
    for d in range(1, last + 1)
)


@lru_cache(maxsize=8)
def yyyymmdd(day: dt.date) -> str:
    """`day` as the 8-digit string that `date_ok`/`id18_ok` compare against."""
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _leap(year: str) -> bool:
    y = int(year)
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def date_ok(yyyymmdd_: str, *, today: dt.date) -> bool:
    """True for a real calendar date between 1900-01-01 and `today`.

    Compared as strings (ASCII digits of equal length sort like the dates they spell),
    which is several times cheaper than building a `date` on every candidate.
    """
    if len(yyyymmdd_) != 8 or not yyyymmdd_.isascii() or not yyyymmdd_.isdigit():
        return False
    mmdd = yyyymmdd_[4:]
    return (
        mmdd in MONTH_DAYS
        and "19000101" <= yyyymmdd_ <= yyyymmdd(today)
        and (mmdd != "0229" or _leap(yyyymmdd_[:4]))
    )


_ID_CHECK = "10X98765432"


def resident_id_check(first17: str) -> str:
    """GB 11643 check character (ISO 7064 MOD 11-2) for the first 17 digits.

    The weights are 2^(17-i) mod 11. Reading the digits in base 13 gives
    sum(d_i * 13^(16-i)), and 13 = 2 (mod 11), so twice that number is the weighted sum
    modulo 11: one `int()` call in C instead of seventeen multiplications.
    """
    return _ID_CHECK[2 * int(first17, 13) % 11]


def resident_id_ok(value: str, *, today: dt.date) -> bool:
    """Validate an 18-character resident ID: region, birth date and check character."""
    return (
        len(value) == 18
        and value[:17].isascii()
        and value[:17].isdigit()
        and id18_ok(value, yyyymmdd(today))
    )


def id18_ok(value: str, today8: str) -> bool:
    """`resident_id_ok` for a value already known to be 17 ASCII digits and one more
    character; `today8` is `yyyymmdd(today)`. The detector's hot path: a few slices and
    set lookups, and the check character by one `int()` call.
    """
    mmdd = value[10:14]
    return (
        value[:4] in REGION_PREFIXES
        and mmdd in MONTH_DAYS
        and "19000101" <= value[6:14] <= today8
        and (mmdd != "0229" or _leap(value[6:10]))
        and _ID_CHECK[2 * int(value[:17], 13) % 11] == value[17]
    )


def legacy_resident_id_ok(value: str, *, today: dt.date) -> bool:
    """Validate a 15-digit (pre-1999) resident ID: region and a 19YYMMDD birth date."""
    return (
        len(value) == 15
        and value.isdigit()
        and region_ok(value[:6])
        and date_ok("19" + value[6:12], today=today)
    )


USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_CHARS)}
# GB 32100 registration authority (char 1) -> allowed organisation type codes (char 2).
USCC_TYPES: dict[str, str] = {
    "1": "1239",
    "2": "19",
    "3": "1234569",
    "4": "19",
    "5": "1239",
    "6": "129",
    "7": "129",
    "8": "19",
    "9": "123",
    "A": "19",
    "N": "1239",
    "Y": "1",
}
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_BASE36 = (36,) * 8
_USCC_SHAPE = re.compile(r"[0-9A-HJ-NP-RTUW-Y]{18}")


# Each USCC character as the base-36 digit of the same value ("J", worth 18, becomes "I"),
# as a byte table: bytes.translate is a table lookup per byte, str.translate a dict lookup
# (kept for other Unicode digits, which int() reads too).
_USCC_AS_BASE36 = bytes.maketrans(USCC_CHARS.encode(), b"0123456789ABCDEFGHIJKLMNOPQRSTU")
_USCC_AS_BASE36_STR = str.maketrans(USCC_CHARS, "0123456789ABCDEFGHIJKLMNOPQRSTU")


# uscc_check's character for each remainder of the weighted sum modulo 31.
_USCC_CHECK_BY_REMAINDER = "".join(USCC_CHARS[(31 - r) % 31] for r in range(31))


def uscc_check(first17: str) -> str:
    """GB 32100 check character (MOD 31 over the 31-character set).

    The weights are 3^i mod 31 from the left, so the reversed code read in base 34
    (34 = 3 mod 31) is congruent to the weighted sum: one `int()` call in C.
    """
    if first17.isascii():
        total = int(first17.encode().translate(_USCC_AS_BASE36)[::-1], 34)
    else:
        total = int(first17.translate(_USCC_AS_BASE36_STR)[::-1], 34)
    return _USCC_CHECK_BY_REMAINDER[total % 31]


def org_code_check(first8: str) -> str:
    """GB 11714 organisation code check character (MOD 11, 10 -> X, 11 -> 0)."""
    # Letters count 10..35 as in GB 11714; int(c, 36) gives exactly that mapping.
    total = sum(map(operator.mul, map(int, first8, _BASE36), _ORG_WEIGHTS))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


# Authority + type pairs (the first two characters) that GB 32100 allows.
USCC_TYPE_PAIRS: frozenset[str] = frozenset(a + t for a, types in USCC_TYPES.items() for t in types)
# `org_code_check` indexed by 2 * int(first8, 35) % 11. GB 11714's weights 3 7 9 10 5 8 4 2
# are 2^8 … 2^1 mod 11, and 35 = 2 (mod 11), so twice the code read in base 35 is the
# weighted sum modulo 11. Base 35 reads 0-9 and A-Y as 0..34, GB 11714's values; the USCC
# set has no Z, the one letter base 35 cannot read.
_ORG_CHECK_BY_REMAINDER = "0X987654321"


def uscc_ok(value: str) -> bool:
    """Validate a unified social credit code: charset, authority/type, region, both checks."""
    return (
        value[:2] in USCC_TYPE_PAIRS
        and _USCC_SHAPE.fullmatch(value) is not None
        and uscc_shape_ok(value)
    )


def uscc_shape_ok(value: str) -> bool:
    """`uscc_ok` for a value already known to be 18 characters of the USCC set."""
    if value[:2] not in USCC_TYPE_PAIRS:
        return False
    region = value[2:8]
    # Central-level registrations use 100000; otherwise the province part must be real.
    if not region.isdigit() or (region[:2] not in PROVINCES and region != "100000"):
        return False
    # uscc_check inlined (the value is ASCII: the USCC set is).
    return (
        _ORG_CHECK_BY_REMAINDER[2 * int(value[8:16], 35) % 11] == value[16]
        and _USCC_CHECK_BY_REMAINDER[
            int(value[16::-1].encode().translate(_USCC_AS_BASE36), 34) % 31
        ]
        == value[17]
    )


# Digit -> digit sum of its double, as a byte translation so the doubling runs in C
# (bytes.translate is a table lookup per byte; str.translate goes through a dict).
LUHN_DOUBLE = bytes.maketrans(b"0123456789", b"0246813579")


def luhn_ok(digits: str) -> bool:
    """Luhn (ISO/IEC 7812) check over a string of ASCII digits."""
    # Read in base 11 (11 = 1 mod 10) a digit string is congruent to its digit sum.
    # Other Unicode digits (which int() reads too) are made ASCII first.
    b = digits.encode() if digits.isascii() else str(int(digits)).zfill(len(digits)).encode()
    return int(b[-1::-2] + b[-2::-2].translate(LUHN_DOUBLE), 11) % 10 == 0


def card_issuer(digits: str) -> str | None:
    """Name the card scheme from the issuer prefix, or None if no scheme issues it.

    Covers the schemes seen on Chinese cards: UnionPay 62 (and the pre-UnionPay 60 / 9558
    BINs of BOC and ICBC still in circulation), Visa, Mastercard, JCB and Discover.
    """
    two = digits[:2]
    if two == "62":
        return "unionpay"
    if digits[0] == "4":
        return "visa"
    if "51" <= two <= "55" or "2221" <= digits[:4] <= "2720":
        return "mastercard"
    if "3528" <= digits[:4] <= "3589":
        return "jcb"
    if digits[:4] == "6011" or two == "65" or "644" <= digits[:3] <= "649":
        return "discover"
    if two == "60" or digits[:4] == "9558":
        return "unionpay"
    return None


# The first four digits decide `card_issuer`; the prefixes for which it names a scheme.
ISSUER_PREFIXES: frozenset[str] = frozenset(
    f"{n:04d}" for n in range(10_000) if card_issuer(f"{n:04d}") is not None
)
