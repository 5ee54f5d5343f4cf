"""Find sensitive identifiers in text in one regex pass plus cheap validation.

Design: one compiled candidate regex finds every *shape* (18-digit IDs, grouped card
numbers, +86 mobiles, passport-like tokens, e-mail addresses) at C speed; the pattern begins
with a single character class so `re` can skip non-candidate characters without entering
the matcher. Only candidates reach Python, where check characters, dates, region codes,
number plans and context words decide. Boundaries are part of the regex: nothing is found
inside a longer run of letters and digits.

Full-width forms (１１０１…, ｘ, －, the ideographic space) count as their NFKC forms, but only
the characters whose NFKC form is one ASCII character. The regex's classes contain them, so
the pass runs on the original text and offsets are the original's; matched values and the
segment context are folded (`fold` keeps the length, so no offset table is needed).
"""

from __future__ import annotations

import datetime as dt
import gc
import re
import sys
import unicodedata
from functools import lru_cache

from baomi.detect import checks
from baomi.detect.model import (
    BANK_CARD,
    CN_MOBILE,
    CN_RESIDENT_ID,
    CN_USCC,
    EMAIL,
    HK_MO_PERMIT,
    PASSPORT,
    Finding,
    Location,
)

# Longest possible candidate (bounded e-mail) and how far back context words are looked for.
MAX_MATCH = 512
CONTEXT_BEFORE = 48
CONTEXT_AFTER = 12


@lru_cache(maxsize=1)
def _fold_table() -> tuple[dict[int, str], re.Pattern[str]]:
    """Characters NFKC maps to a single identifier-relevant ASCII character.

    Only <wide> (full-width), <narrow>, <font> (mathematical digits) and <noBreak>
    compatibility forms are taken: superscripts and circled numbers are not digits in a
    document and folding them would glue footnote marks onto numbers.
    """
    wanted = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+-@._% ")
    table: dict[int, str] = {}
    ranges = ((0x00A0, 0x00A1), (0x3000, 0x3001), (0xFF00, 0xFFEF), (0x1D400, 0x1D800))
    for lo, hi in ranges:
        for cp in range(lo, hi):
            ch = chr(cp)
            tag = unicodedata.decomposition(ch).split(" ", 1)[0]
            if tag not in {"<wide>", "<narrow>", "<font>", "<noBreak>"}:
                continue
            folded = unicodedata.normalize("NFKC", ch)
            if folded in wanted:
                table[cp] = folded
    # Dashes people type between digit groups; NFKC keeps them, we treat them as "-".
    for cp in (0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212, 0xFE63):
        table[cp] = "-"
    # A class of BMP ranges compiles to a constant-time lookup table in `re`; thousands
    # of single characters or astral ranges would be tested one by one per character.
    spans: list[list[int]] = []
    for cp in sorted(c for c in table if c <= 0xFFFF):
        if spans and spans[-1][1] == cp - 1:
            spans[-1][1] = cp
        else:
            spans.append([cp, cp])
    chars = "".join(f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi in spans)
    chars += "\U0001d400-\U0001d7ff"  # mathematical alphanumerics, as one coarse range
    return table, re.compile(f"[{chars}]+")


def fold(text: str) -> str:
    """Fold full-width and similar forms to ASCII, keeping the length unchanged."""
    if text.isascii():
        return text
    table, runs = _fold_table()
    if runs.search(text) is None:
        return text
    return runs.sub(lambda m: m.group().translate(table), text)


# The candidate regex runs on the original text, not on a folded copy: every character
# class below also holds the characters that fold to its ASCII members (１ is a digit, ｘ an
# x, the ideographic space a separator), so the pass sees exactly what it would see in the
# folded text without building one. That fold used to cost about as much as the whole
# regex pass. Only the matched characters and short context windows are folded.
def _wide_class(ascii_chars: str) -> str:
    """A regex class matching `ascii_chars` and every BMP character that folds to one.

    Astral look-alikes (mathematical digits and letters) are left out: a range beyond the
    BMP is tested one by one for every character scanned and made the pass a third slower.
    `detect` folds a text that may hold astral characters before scanning it instead.
    """
    table, _runs = _fold_table()
    wanted = set(ascii_chars)
    cps = sorted(
        {ord(c) for c in wanted} | {cp for cp, f in table.items() if f in wanted and cp <= 0xFFFF}
    )
    spans: list[list[int]] = []
    for cp in cps:
        if spans and spans[-1][1] == cp - 1:
            spans[-1][1] = cp
        else:
            spans.append([cp, cp])
    body = "".join(
        re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}"
        for lo, hi in spans
    )
    return f"[{body}]"


# CPython stores a string holding any character beyond the BMP at four bytes per
# character, so its size tells in O(1) whether one may be present (a cached UTF-8 copy
# can only make it look larger: a false "maybe", never a false "no").
_UCS4_BASE = sys.getsizeof("\U0001d7ce") - 4
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _may_have_astral(text: str) -> bool:
    if sys.implementation.name == "cpython":
        return sys.getsizeof(text) - 4 * len(text) >= _UCS4_BASE
    return _ASTRAL.search(text) is not None


_DIGITS = "0123456789"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ALNUM = _DIGITS + _UPPER + _UPPER.lower()
_EMAIL_LOCAL = _ALNUM + "._%+-"
_CLASSES = {
    "AN+": _ALNUM + "+",
    "AN": _ALNUM,
    "D": _DIGITS,
    "SEP": " -",
    "DSEP": _DIGITS + " -",
    "LB_EMAIL": "._%+-",
    "1-9": "123456789",
    "2-69": "234569",
    "3-9": "3456789",
    "4-5-9": "56789",
    "5-0-35-9": "012356789",
    "6-2567": "2567",
    "7-0-8": "012345678",
    "9-0-35-9": "012356789",
    "DX": _DIGITS + "Xx",
    "Xx": "Xx",
    "USCC1": "123456789ANY",
    "USCC": "0123456789ABCDEFGHJKLMNPQRTUWXY",
    "DOC1": "CDEGHMPS",
    "DOC2": "ABCDEFGHJKLMNPQRSTUVWXYZ",
    "EL": _EMAIL_LOCAL,
    "ED": _ALNUM + "-",
    "EA": _ALNUM,
    "ALPHA": _UPPER + _UPPER.lower(),
    "AT": "@",
    "DOT": ".",
    "PLUS": "+",
    **{c: c for c in _DIGITS},
}
_TEMPLATE = r"""
    «AN+»                           # one class first: lets re skip to candidates fast
    (?<!«AN».)                      # ...that do not continue a letter/digit run
    (?:
        # Every number shape goes on with at least ten digits or separators: one cheap
        # look ahead turns away the many short runs (dates, amounts, years) at once.
        (?=«DSEP»{10})
        (?:
        # The compact shapes first, the commonest candidates. A compact shape has a digit
        # where every grouped shape below needs a separator, so no text can match both and
        # the order between the two kinds does not change what is found.
        # +86 / 0086 and a compact mobile (before num, which would take 0086…)
        (?P<pmob>(?:(?<=«PLUS»)«8»«6»|(?<=«0»)«0»«8»«6»)«SEP»?«1»«D»{10}(?!«AN»|«EL»*+«AT»))
        # compact mobile inside the number plan, decided in re (before num)
      | (?P<mob>(?<=«1»)(?:«3»«D»|«4»«4-5-9»|«5»«5-0-35-9»|«6»«6-2567»|«7»«7-0-8»|«8»«D»
            |«9»«9-0-35-9»)«D»{8}(?!«AN»|«EL»*+«AT»))
        # compact digit runs of 11..19 (an ID may end in X). A compact shape followed by
        # the rest of an e-mail local part and "@" is the local part (QQ mail, a mobile
        # number as mailbox): the e-mail branch below takes it whole.
      | (?P<num>(?<=«D»)«D»{10,18}+«Xx»?(?!«AN»|«EL»*+«AT»))
        # grouped resident ID 6-4-4-4 or 6-8-4, not continuing a digit group before it
      | (?P<gid>(?<=«1-9»)(?<!«D»«SEP».)«D»{5}«SEP»«D»{4}«SEP»?«D»{4}«SEP»«D»{3}«DX»
            (?!«SEP»?«AN»))
        # grouped card 4-4-4-4(-1..3)
      | (?P<gcard>(?<=«2-69»)(?<!«D»«SEP».)«D»{3}(?:«SEP»«D»{4}){3}(?:«SEP»«D»{1,3})?
            (?!«SEP»?«AN»))
        # grouped mobile 3-4-4, optionally behind +86 / 0086 / 86
      | (?P<gmob>(?<!«D»«SEP».)(?:(?<=«PLUS»)«8»«6»«SEP»?«1»|(?<=«0»)«0»«8»«6»«SEP»?«1»
            |(?<=«8»)«6»«SEP»«1»|(?<=«1»))
            «3-9»«D»«SEP»«D»{4}«SEP»«D»{4}(?!«SEP»?«AN»))
        )
        # unified social credit code: 18 chars of the GB 32100 set
      | (?P<uscc>(?<=«USCC1»)«USCC»{17}(?!«AN»|«EL»*+«AT»))
        # passports and Hong Kong/Macau permits: letter, optional letter, 7..10 digits
      | (?P<doc>(?<=«DOC1»)«DOC2»?«D»{7,10}+(?!«AN»|«EL»*+«AT»))
      | (?P<email>(?<!«LB_EMAIL».)«EL»{0,63}+«AT»«EA»«ED»{0,62}
            (?:«DOT»«ED»{1,63}){0,4}«DOT»«ALPHA»{2,24}(?!«ED»))
    )
"""


def _build_candidate() -> re.Pattern[str]:
    pattern = re.sub(r"«([^»]+)»", lambda m: _wide_class(_CLASSES[m.group(1)]), _TEMPLATE)
    return re.compile(pattern, re.VERBOSE)


_CANDIDATE = _build_candidate()
_MOBILE = re.compile(r"1(?:3\d|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8\d|9[0-35-9])\d{8}")
_PASSPORT = re.compile(r"(?:E\d{8}|E[A-HJ-NP-Z]\d{7}|G\d{8}|P\d{7}|[SD]\d{7,8})")
_PERMIT = re.compile(r"(?:C\d{8}|C[A-HJ-NP-Z]\d{7}|[HM]\d{8}(?:\d{2})?)")
# A string of 11 ASCII digits is in the number plan exactly when its first three are.
_MOBILE_PREFIXES = frozenset(
    f"{n:03d}" for n in range(1000) if _MOBILE.fullmatch(f"{n:03d}00000000") is not None
)
_ISSUER_PREFIXES = checks.ISSUER_PREFIXES
_LUHN_DOUBLE = checks.LUHN_DOUBLE


# Context words. Positive ones make an ambiguous shape credible; negative ones say the
# number is a business reference that happens to look like an identifier.
def _ctx_atom(ch: str) -> str:
    """One character of a context word as the original word lists meant it: an ASCII letter
    matches itself and its full-width form in either case (as `[cｃ]` does under
    IGNORECASE), anything else only itself."""
    if ch.isascii() and ch.isalpha():
        return f"[{ch}{chr(ord(ch) + 0xFEE0)}]"
    return re.escape(ch)


@lru_cache(maxsize=1)
def _case_partners() -> frozenset[str]:
    """Every character that matches an ASCII or full-width letter under IGNORECASE (the
    letters themselves, İ, ı, ſ, the Kelvin sign…), asked of `re` over the blocks where
    such partners lie: Latin and Latin Extended, Letterlike Symbols, Halfwidth and
    Fullwidth Forms. A test checks the whole Unicode range."""
    blocks = ((0x0000, 0x0250), (0x2100, 0x2150), (0xFF00, 0xFFF0))
    chars = "".join(chr(c) for lo, hi in blocks for c in range(lo, hi))
    return frozenset(re.findall("[A-Za-zＡ-Ｚａ-ｚ]", chars, re.IGNORECASE))


@lru_cache(maxsize=128)
def _ctx_chars(ch: str) -> frozenset[str]:
    """The characters that `_ctx_atom(ch)` matches under IGNORECASE: an ideograph only
    itself, a letter its case partners, as `re` itself decides (so its own equivalences,
    such as the Kelvin sign for k, are kept)."""
    if not (ch.isascii() and ch.isalpha()):
        return frozenset(ch)
    atom = re.compile(_ctx_atom(ch), re.IGNORECASE)
    return frozenset(c for c in _case_partners() if atom.fullmatch(c))


def _ctx_class(chars: set[str] | frozenset[str]) -> str:
    return "[" + "".join(re.escape(c) for c in sorted(chars)) + "]"


def _ctx(words: str) -> re.Pattern[str]:
    """Compile "w1|w2|…" to find any of the words, case-insensitively (ＩＤ, ｃａｒｄ, Card).

    Context is looked for in the original text around a candidate (no folded copy), so
    each ASCII letter also accepts its full-width form, in either case.

    The pattern is `[F](?:r1(?<=f1.{n})|r2(?<=f2.{m})|…)`: F holds every character any
    word can start with (a plain class, without IGNORECASE, so `re` skips through the
    window in C to such a character), r is the rest of a word and the look-behind checks
    the word's own first character. An alternative whose rest starts with an ideograph is
    skipped by `re` after one comparison when the next character differs. Letters keep
    IGNORECASE in scoped groups. The plain alternation "w1|w2|…" under IGNORECASE was
    tried at every position of the window and made a context search several times
    slower. This finds a word exactly where that did (a test compares the two).
    """
    alts = words.split("|")

    def atom(ch: str) -> str:
        # A letter keeps IGNORECASE in a scoped group: the same matches as the plain class
        # of its case partners, and `re` compiles it a hundred times faster.
        return f"(?i:{_ctx_atom(ch)})" if ch.isascii() and ch.isalpha() else re.escape(ch)

    first = _ctx_class(set().union(*(_ctx_chars(w[0]) for w in alts)))
    # After the rest of a word has matched, the look-behind need only check its first
    # character, len(word) back (the rest holds no newline for "." to refuse).
    body = "|".join(f"{''.join(map(atom, w[1:]))}(?<={atom(w[0])}.{{{len(w) - 1}}})" for w in alts)
    return re.compile(f"{first}(?:{body})")


_CARD_WORDS = (
    "卡号|银行|账号|帐号|账户|帐户|开户|银行卡|信用卡|借记卡|储蓄卡|工资卡|收款|付款|户名"
    "|card|account|acct|iban"
)
_ID_WORDS = "身份证|公民身份|证件|居民|身份号|ID"
_PASSPORT_WORDS = "护照|passport|证件"
_PERMIT_WORDS = "通行证|港澳|往来|来往内地|回乡证|证件|permit|EEP"
# Business-reference words right before a number, and corporate settlement accounts (对公
# 账户), which share lengths and even prefixes with cards (CCB accounts start with 44…); one
# in ten passes Luhn by chance, so the label decides. One pattern, one search.
_NEG_WORDS = (
    "订单|单号|编号|流水号|交易号|发票|合同号|批次|序列号|货号|型号|参考号|凭证号|order|invoice|ref"
)
_NEG_CARD_WORDS = _NEG_WORDS + "|基本户|基本存款|一般户|一般存款|对公|单位账|单位帐|企业账|企业帐"
_CARD_CTX = _ctx(_CARD_WORDS)
_ID_CTX = _ctx(_ID_WORDS)
_PASSPORT_CTX = _ctx(_PASSPORT_WORDS)
_PERMIT_CTX = _ctx(_PERMIT_WORDS)
_NEG_CTX = _ctx(_NEG_WORDS)
_NEG_CARD_CTX = _ctx(_NEG_CARD_WORDS)
_NEG_WINDOW = 16
_CARD_SEARCH = _CARD_CTX.search
_NEG_CARD_SEARCH = _NEG_CARD_CTX.search


def mask(type_: str, value: str) -> str:
    """Masked form safe to display: first 4 and last 4 kept for long numbers.

    Short identifiers keep less, so the mask still hides most of the value: mobiles keep
    3 + 4 (the usual 138****8000), passports and permits 2 + 2, e-mail the first letter
    of the local part and the domain.
    """
    if type_ == EMAIL:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    n = len(value)
    head, tail = (4, 4) if n >= 15 else (3, 4) if n == 11 else (2, 2)
    return value[:head] + "*" * (n - head - tail) + value[n - tail :]


# Context words sit mostly right before the number (卡号：…, 护照号码 …), so the nearest
# characters before a candidate are searched first and the whole window only after a miss.
_NEAR = 12


def _has(
    pattern: re.Pattern[str],
    text: str,
    start: int,
    end: int,
    extra: str,
    *,
    near_done: bool = False,
) -> bool:
    """Is a context word within CONTEXT_BEFORE characters before [start, end), within
    CONTEXT_AFTER after it, or in the segment context?

    Charset scanning costs `re` several nanoseconds per character, and most context words
    end right before the candidate: the nearest _NEAR characters are searched first, and
    only when nothing is there the whole window (one search over it, the candidate
    included: a context word cannot overlap the candidate, whose regex refuses a letter or
    digit on either side of it). `near_done`: the caller has searched the nearest part.
    """
    search = pattern.search
    lo = start - _NEAR
    if not near_done and search(text, lo if lo > 0 else 0, start) is not None:
        return True
    lo = start - CONTEXT_BEFORE
    if search(text, lo if lo > 0 else 0, end + CONTEXT_AFTER) is not None:
        return True
    return bool(extra) and search(extra) is not None


def _negative(text: str, start: int) -> bool:
    """A business-reference word right before the number (订单号：…, 发票号码 …)."""
    return _NEG_CTX.search(text, max(0, start - _NEG_WINDOW), start) is not None


def _card(  # noqa: PLR0917 - positional: called per candidate in the hot loop
    digits: str, text: str, start: int, end: int, extra: str, grouped: bool
) -> float | None:
    """Confidence that `digits` (16 to 19 ASCII digits) is a bank card, or None.

    Luhn alone passes one random number in ten, and order or account numbers are common in
    business documents, so a card also needs an issuer prefix and either a context word
    (卡号, 银行, 账号, 开户…) or the 4-4-4-4 grouping that only card numbers are printed in.
    A business-reference word right before it (订单号, 对公账户…) vetoes both.
    """
    if digits[:4] not in _ISSUER_PREFIXES:
        return None
    b = digits.encode()  # checks.luhn_ok, inlined: this runs for every card-shaped number
    if int(b[-1::-2] + b[-2::-2].translate(_LUHN_DOUBLE), 11) % 10:
        return None
    near = max(start - _NEAR, 0)
    # _has(_CARD_CTX, …), its first search inlined.
    context = _CARD_SEARCH(text, near, start) is not None or _has(
        _CARD_CTX, text, start, end, extra, near_done=True
    )
    if not (context or grouped):
        return None
    lo = start - _NEG_WINDOW
    if _NEG_CARD_SEARCH(text, lo if lo > 0 else 0, start) is not None:
        return None
    return 0.95 if context else 0.8


def _classify_digits(
    digits: str,
    text: str,
    start: int,
    end: int,
    *,
    extra: str,
    today: dt.date,
    grouped: bool,
    id_checked: bool = False,
) -> tuple[str, str, float] | None:
    """Decide what a digit run (possibly ending in X) is; ID beats USCC beats card.

    `id_checked`: the caller already found that an 18-character run is no resident ID.
    The commonest shapes (an 18-digit ID, a 16-19 digit card) are decided in `detect`
    before this is called; the outcome is the same either way.
    """
    n = len(digits)
    if n == 18:
        if not id_checked and checks.resident_id_ok(digits, today=today):
            return CN_RESIDENT_ID, digits, 0.99
        if checks.uscc_ok(digits):
            return CN_USCC, digits, 0.95
    elif n == 15:
        if checks.legacy_resident_id_ok(digits, today=today) and not _negative(text, start):
            conf = 0.9 if _has(_ID_CTX, text, start, end, extra) else 0.75
            return CN_RESIDENT_ID, digits, conf
        return None
    elif n == 11:
        if _MOBILE.fullmatch(digits):
            return CN_MOBILE, digits, 0.9
        return None
    elif (n == 13 and digits.startswith("86")) or (n == 14 and digits.startswith("0086")):
        local = digits[-11:]
        if _MOBILE.fullmatch(local):
            return CN_MOBILE, local, 0.9
        return None
    if 16 <= n <= 19 and digits.isdigit():
        card = _card(digits, text, start, end, extra, grouped)
        if card is not None:
            return BANK_CARD, digits, card
    return None


_new = tuple.__new__  # builds the NamedTuples below without their Python-level __new__
_STARS = tuple("*" * n for n in range(12))  # a card's masked middle: 8 to 11 characters


def _mask18(value: str) -> str:
    """`mask` of an 18-character value (resident ID, USCC, 18-digit card)."""
    return f"{value[:4]}**********{value[14:]}"


# Candidate shapes made of digits and letters only. Their full-width characters fold to
# exactly their NFKC forms, and unicodedata.normalize does that in C several times faster
# than str.translate's per-character dict lookups; shapes with separators (whose Unicode
# dashes NFKC leaves alone) and e-mail addresses use the fold table.
_NFKC_SAFE = frozenset(("num", "mob", "uscc", "doc"))
_normalize = unicodedata.normalize


def detect(
    text: str,
    *,
    context: str = "",
    today: dt.date | None = None,
    start: int = 0,
    end: int | None = None,
) -> list[Finding]:
    """All identifiers in `text`, in order, with offsets into `text`.

    `context` is extra text searched for context words only (a column header).
    Findings starting before `start` or at/after `end` are skipped, but characters around
    them are still read, so boundaries and context are right in a window of a larger text.
    `location.where` is left empty for the caller to fill. Never raises on any input.

    Speed: the candidate regex skips to candidate characters in C and matches full-width
    forms directly (no folded copy of the text); Python sees only candidates. The regex's
    named group says which shape matched, so each candidate goes straight to the checks
    of its type: a compact mobile number is decided by the regex alone, an 18-digit run
    by `checks.id18_ok`, a 16-19 digit run by `_card`; rarer shapes take
    `_classify_digits`. Every check is a few slices, set lookups and one `int()` in C.
    """
    # The loop makes two small tuples per finding and no reference cycles; pausing the
    # cycle collector for it saves the repeated collections that tens of thousands of
    # new tuples trigger (about 13 % of a 20 MB scan). It is switched back on only if it
    # was on, so a caller's own `gc.disable()` is left alone.
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        return _detect(text, context=context, today=today, start=start, end=end)
    finally:
        if paused:
            gc.enable()


def _detect(
    text: str,
    *,
    context: str = "",
    today: dt.date | None = None,
    start: int = 0,
    end: int | None = None,
) -> list[Finding]:
    """`detect` without the collector pause."""
    today = today or dt.date.today()  # noqa: DTZ011 - birth dates are calendar dates
    today8 = checks.yyyymmdd(today)
    extra = fold(context) if context else ""
    limit = len(text) if end is None else end
    table = _fold_table()[0]
    id18_ok = checks.id18_ok
    card = _card
    stars = _STARS
    new = _new
    nfkc_safe = _NFKC_SAFE
    uscc_ok = checks.uscc_ok
    uscc_shape_ok = checks.uscc_shape_ok
    mobile3 = _MOBILE_PREFIXES
    mask18 = _mask18
    if _may_have_astral(text):
        # Mathematical digits and letters are not in the candidate classes; fold them (the
        # length stays the same, so offsets still point into the original text).
        text = fold(text)
    out: list[Finding] = []
    append = out.append
    for m in _CANDIDATE.finditer(text, start):
        s, e = m.span()
        if s >= limit:
            break
        kind = m.lastgroup
        raw = m.group()
        if not raw.isascii():
            raw = _normalize("NFKC", raw) if kind in nfkc_safe else raw.translate(table)
        # Each branch either gives up on the candidate (`continue`) or sets type_, value,
        # masked and conf; the finding is built once, below.
        result: tuple[str, str, float] | None = None
        if kind == "num":
            n = len(raw)
            if n == 18:
                if raw[17] == "x":
                    raw = raw[:17] + "X"
                if id18_ok(raw, today8):
                    type_, value, masked, conf = CN_RESIDENT_ID, raw, mask18(raw), 0.99
                elif uscc_ok(raw):  # not an ID: a USCC of digits only, else perhaps a card
                    type_, value, masked, conf = CN_USCC, raw, mask18(raw), 0.95
                elif raw[17] == "X" or (c := card(raw, text, s, e, extra, False)) is None:
                    continue
                else:
                    type_, value, masked, conf = BANK_CARD, raw, mask18(raw), c
            elif n > 15:  # 16, 17 or 19 digits (18 above), or any of them and an X
                if not raw.isdigit() or (c := card(raw, text, s, e, extra, False)) is None:
                    continue
                type_, value, masked, conf = BANK_CARD, raw, f"{raw[:4]}{stars[n - 8]}{raw[-4:]}", c
            elif n == 15:
                result = _classify_digits(raw, text, s, e, extra=extra, today=today, grouped=False)
                if result is None:
                    continue
                type_, value, conf = result
                masked = mask(type_, value)
            elif n == 13 and raw[:2] == "86" and raw[-1] in _DIGITS and raw[2:5] in mobile3:
                value = raw[2:]
                type_, masked, conf = CN_MOBILE, f"{value[:3]}****{value[7:]}", 0.9
            else:
                # 11 digits outside the number plan (inside it the mob branch matched
                # first), 12 or 14 characters, or 13 that are no 86 + mobile: no
                # identifier has those shapes.
                continue
        elif kind == "mob":  # decided by the regex
            type_, value, masked, conf = CN_MOBILE, raw, f"{raw[:3]}****{raw[7:]}", 0.9
        elif kind == "gcard":
            value = raw.replace(" ", "").replace("-", "")
            n = len(value)
            if n == 18:
                result = _classify_digits(value, text, s, e, extra=extra, today=today, grouped=True)
                if result is None:
                    continue
                type_, value, conf = result
                masked = mask18(value)
            else:  # 16, 17 or 19: only a card can have that length
                if (c := card(value, text, s, e, extra, True)) is None:
                    continue
                type_, masked, conf = BANK_CARD, f"{value[:4]}{stars[n - 8]}{value[-4:]}", c
        elif kind == "doc":
            result = _classify_document(raw, text, s, e, extra)
            if result is None:
                continue
            type_, value, conf = result
            masked = mask(type_, value)
        elif kind == "gid":
            value = raw.replace(" ", "").replace("-", "")
            if value[17] == "x":
                value = value[:17] + "X"
            if id18_ok(value, today8):
                type_, masked, conf = CN_RESIDENT_ID, mask18(value), 0.99
            else:
                result = _classify_digits(
                    value, text, s, e, extra=extra, today=today, grouped=True, id_checked=True
                )
                if result is None:
                    continue
                type_, value, conf = result
                masked = mask18(value)
        elif kind == "uscc":
            # The regex matched 18 characters of the USCC set, the first a valid authority.
            if not uscc_shape_ok(raw):
                continue
            type_, value, masked, conf = CN_USCC, raw, mask18(raw), 0.99
        elif kind == "gmob" or kind == "pmob":  # noqa: PLR1714 - identity of interned names
            # Both shapes end in "1" and ten digits: the number plan is the first three.
            value = raw.replace(" ", "").replace("-", "")[-11:]
            if value[:3] not in mobile3:
                continue
            type_, masked, conf = CN_MOBILE, f"{value[:3]}****{value[7:]}", 0.9
        elif kind == "email":
            value = raw.lower()
            local, _, domain = value.partition("@")
            type_, masked, conf = EMAIL, f"{local[:1]}***@{domain}", 0.95
        else:  # pragma: no cover - every named group is handled above
            continue
        append(
            new(Finding, (type_, value, masked, new(Location, ("", s, e, None, None)), conf, ""))
        )
    return out


def _classify_document(
    raw: str, text: str, start: int, end: int, extra: str
) -> tuple[str, str, float] | None:
    """Passport or Hong Kong/Macau permit; both shapes are too generic without context.

    The two shapes start with different letters (permits C, H, M; passports D, E, G, P,
    S), so the first letter says which one to check.
    """
    if raw[0] in "CHM":
        if _PERMIT.fullmatch(raw) and _has(_PERMIT_CTX, text, start, end, extra):
            return HK_MO_PERMIT, raw, 0.9
    elif _PASSPORT.fullmatch(raw) and _has(_PASSPORT_CTX, text, start, end, extra):
        return PASSPORT, raw, 0.9
    return None


_PARTIAL = re.compile(r"(?<![0-9A-Za-z?])(\d{12,18})(\?{1,7})(?![0-9A-Za-z?])")


def detect_partial_numbers(
    text: str, *, context: str = "", today: dt.date | None = None
) -> list[Finding]:
    """Identifiers whose last digits were lost ("110101199003071???").

    Spreadsheets keep 15 significant digits, so an ID or card typed as a number cannot be
    validated in full. What can be seen is checked (region and birth date of an ID; issuer
    prefix and context of a card) and reported with low confidence and a note, because
    the document still holds the person's identifier for every practical purpose.
    """
    today = today or dt.date.today()  # noqa: DTZ011 - birth dates are calendar dates
    out: list[Finding] = []
    for m in _PARTIAL.finditer(text):
        value = m.group()
        digits = m.group(1)
        s, e = m.span()
        note = f"precision_lost: stored as a number, last {len(m.group(2))} digit(s) unknown"
        if (
            len(value) == 18
            and len(digits) >= 14
            and checks.region_ok(digits[:6])
            and checks.date_ok(digits[6:14], today=today)
        ):
            out.append(
                Finding(
                    CN_RESIDENT_ID,
                    value,
                    mask(CN_RESIDENT_ID, value),
                    Location("", s, e),
                    0.5,
                    note,
                )
            )
        elif (
            16 <= len(value) <= 19
            and checks.card_issuer(digits) is not None
            and _has(_CARD_CTX, text, s, e, context)
        ):
            out.append(
                Finding(BANK_CARD, value, mask(BANK_CARD, value), Location("", s, e), 0.4, note)
            )
    return out
