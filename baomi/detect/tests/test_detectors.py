"""Unit tests per detector: formats, boundaries, check characters, context rules."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baomi.detect import checks, detect, detectors, mask
from baomi.detect.detectors import fold
from baomi.detect.tests.corpus import Gen, id_check, luhn_complete, org_check, uscc_check

TODAY = dt.date(2024, 6, 1)
# GB 11643's own example and a widely published USCC sample.
ID = "11010519491231002X"
USCC = "91350100M000100Y43"
CARD = "6222021234567890128"


def found(text: str, context: str = "") -> list[tuple[str, str]]:
    return [(f.type, f.value) for f in detect(text, context=context, today=TODAY)]


def test_check_algorithms_agree_with_independent_implementations() -> None:
    g = Gen(7)
    for _ in range(300):
        v = g.resident_id()
        assert checks.resident_id_check(v[:17]) == id_check(v[:17]) == v[17]
        u = g.uscc()
        assert checks.uscc_check(u[:17]) == uscc_check(u[:17])
        assert checks.org_code_check(u[8:16]) == org_check(u[8:16])
        c = g.card()
        assert checks.luhn_ok(c)
        assert checks.luhn_ok(luhn_complete(c[:-1]))
    assert checks.resident_id_ok(ID, today=TODAY)
    assert checks.uscc_ok(USCC)


@pytest.mark.parametrize(
    "text",
    [
        f"身份证号：{ID}",
        f"身份证号：{ID[:17]}x",
        "身份证号：110105 1949 1231 002X",
        "身份证号：110105 19491231 002x",
        "身份证号：110105-1949-1231-002X",
        "身份证号：" + ID.translate(str.maketrans("0123456789X", "０１２３４５６７８９ｘ")),
        f"({ID})",
        f"ID:{ID}.",
    ],
)
def test_resident_id_variants(text: str) -> None:
    assert found(text) == [("cn_resident_id", ID)]


@pytest.mark.parametrize(
    "text",
    [
        ID[:17] + "1",  # wrong check character
        "1" + ID,  # inside a longer digit run
        ID + "7",
        "A" + ID,  # letters and digits run
        ID + "b",
    ],
)
def test_resident_id_rejections(text: str) -> None:
    assert found(text) == []


def test_resident_id_dates_and_regions() -> None:
    def make(region: str, date: str) -> str:
        body = region + date + "123"
        return body + id_check(body)

    assert found(make("110105", "19491231"))
    assert not found(make("110105", "19490230"))  # no such day
    assert not found(make("110105", "18991231"))  # before 1900
    assert not found(make("110105", "20240602"))  # born after "today"
    assert not found(make("990105", "19491231"))  # no province 99
    assert not found(make("119905", "19491231"))  # Beijing has no prefecture 99
    assert found(make("362201", "19650101"))  # old 宜春地区 code


def test_legacy_fifteen_digit_id() -> None:
    assert found("身份证 110105491231002") == [("cn_resident_id", "110105491231002")]
    assert not found("身份证 110105490230002")  # impossible date
    assert not found("订单号 110105491231002")  # business reference, not an ID


def test_uscc() -> None:
    assert found(f"统一社会信用代码：{USCC}") == [("cn_uscc", USCC)]
    assert not found(USCC[:17] + "4")  # wrong MOD 31 check character
    # Valid MOD 31 check but a broken GB 11714 organisation code check.
    body = USCC[:16].replace("M0001000", "M0001001") + "Y"
    assert not found(body + uscc_check(body))
    # Registration authority 9 has no organisation type 5.
    body = "95" + USCC[2:17]
    assert not found(body + uscc_check(body))
    assert not found(USCC.lower())


def test_bank_card_needs_context_or_grouping() -> None:
    assert found(f"卡号：{CARD}") == [("bank_card", CARD)]
    assert found(f"{CARD}", context="工资卡号") == [("bank_card", CARD)]
    assert found("6222 0212 3456 7890 128") == [("bank_card", CARD)]
    assert found("开户行 6222-0212-3456-7890-128") == [("bank_card", CARD)]
    assert not found(f"追踪码 {CARD}")  # Luhn-valid but nothing says card
    assert not found(f"卡号：{CARD[:-1]}9")  # Luhn fails
    bad_prefix = luhn_complete("110202030400001234")
    assert not found(f"账号：{bad_prefix}")  # no issuer uses prefix 11
    assert not found(f"订单号：{CARD} 银行")  # business reference word right before it
    assert not found(f"基本存款账户账号：{luhn_complete('440069824520895007')}")  # 对公账户


@pytest.mark.parametrize(
    "text",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "+8613800138000",
        "+86 138 0013 8000",
        "+86-138-0013-8000",
        "0086 13800138000",
        "8613800138000",
        "１３８００１３８０００",
        "电话:13800138000。",
    ],
)
def test_mobile_variants(text: str) -> None:
    assert found(text) == [("cn_mobile", "13800138000")]


@pytest.mark.parametrize(
    "number",
    [
        "12012345678",
        "14012345678",
        "15412345678",
        "16012345678",
        "17912345678",
        "19412345678",
        "10012345678",
    ],
)
def test_mobile_outside_number_plan(number: str) -> None:
    assert found(f"电话 {number}") == []


def test_mobile_plan_edges() -> None:
    for prefix in ("145", "149", "150", "153", "155", "162", "167", "170", "178", "190", "199"):
        assert found(f"{prefix}12345678") == [("cn_mobile", f"{prefix}12345678")]
    assert found("138001380001") == []  # 12 digits
    assert found("138 0013 8000 1234") == []  # a longer grouped number


def test_email() -> None:
    assert found("联系 Zhang.San@Example.COM，谢谢") == [("email", "zhang.san@example.com")]
    assert found("a@b") == []
    assert [f.masked for f in detect("x wang_li88@corp.example.cn", today=TODAY)] == [
        "w***@corp.example.cn"
    ]


def test_passport_and_permits_need_context() -> None:
    assert found("护照号码：E12345678") == [("passport", "E12345678")]
    assert found("护照号码：EA1234567") == [("passport", "EA1234567")]
    assert found("护照：G12345678，P1234567") == [
        ("passport", "G12345678"),
        ("passport", "P1234567"),
    ]
    assert found("型号 E12345678") == []
    assert found("往来港澳通行证：C12345678") == [("hk_mo_permit", "C12345678")]
    assert found("往来港澳通行证：CA1234567") == [("hk_mo_permit", "CA1234567")]
    assert found("回乡证 H12345678 / M1234567801") == [
        ("hk_mo_permit", "H12345678"),
        ("hk_mo_permit", "M1234567801"),
    ]
    assert found("批号 C12345678") == []
    assert found("E12345678", context="护照号") == [("passport", "E12345678")]


def test_masks() -> None:
    assert mask("cn_resident_id", "31010119900307123X") == "3101**********123X"
    assert mask("cn_mobile", "13800138000") == "138****8000"
    assert mask("email", "alice@example.com") == "a***@example.com"
    assert mask("passport", "E12345678") == "E1*****78"


def test_offsets_point_at_the_original_text() -> None:
    text = "甲方：张三，身份证号：１１０１０５ １９４９ １２３１ ００２ｘ，完"
    (f,) = detect(text, today=TODAY)
    assert text[f.location.start : f.location.end] == "１１０１０５ １９４９ １２３１ ００２ｘ"


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_fold_keeps_length_and_detect_never_raises(text: str) -> None:
    assert len(fold(text)) == len(text)
    for f in detect(text, today=TODAY):
        assert 0 <= f.location.start < f.location.end <= len(text)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from([ID, "13800138000", "。", "，", " ", "1", "a", "卡号", "\n", USCC]),
        max_size=40,
    )
)
def test_window_restriction_matches_full_scan(parts: list[str]) -> None:
    """Scanning [start, end) of a text finds exactly the full scan's findings inside it."""
    text = "".join(parts)
    full = detect(text, today=TODAY)
    cut = len(text) // 2
    left = detect(text, today=TODAY, end=cut)
    right = detect(text, today=TODAY, start=cut)
    assert [f for f in full if f.location.start < cut] == left
    starts = {f.location.start for f in right}
    assert [f for f in full if f.location.start >= cut and f.location.start in starts] == right


# --- The fast paths give the same answers as the plain definitions -------------------------

_WIDE_DIGITS = str.maketrans("0123456789Xx- @.", "０１２３４５６７８９Ｘｘ－　＠．")


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet="0123456789", min_size=2, max_size=19),
    st.text(alphabet=checks.USCC_CHARS, min_size=17, max_size=17),
)
def test_check_arithmetic_matches_the_weighted_sums(digits: str, uscc_body: str) -> None:
    body = (digits + "0" * 17)[:17]
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    total = sum(int(c) * w for c, w in zip(body, weights, strict=True))
    assert checks.resident_id_check(body) == "10X98765432"[total % 11]
    plain = sum(checks.USCC_CHARS.index(c) * (3**i % 31) for i, c in enumerate(uscc_body))
    assert checks.uscc_check(uscc_body) == checks.USCC_CHARS[(31 - plain % 31) % 31]
    luhn = 0
    for i, d in enumerate(int(c) for c in reversed(digits)):
        doubled = d * 2 if i % 2 else d
        luhn += doubled - 9 if doubled > 9 else doubled
    assert checks.luhn_ok(digits) == (luhn % 10 == 0)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1890_00_00, max_value=2030_13_40))
def test_date_check_matches_the_calendar(n: int) -> None:
    text = f"{n:08d}"
    try:
        real = dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        real = None
    expected = real is not None and dt.date(1900, 1, 1) <= real <= TODAY
    assert checks.date_ok(text, today=TODAY) == expected


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                ID,
                "13800138000",
                "+86 138-0013-8000",
                "6222 0212 3456 7899",
                USCC,
                "E12345678",
                "a.b@example.com",
                "。",
                "，",
                " ",
                "1",
                "a",
                "卡号",
                "护照",
                "证件",
                "\n",
                "订单号",
            ]
        ),
        max_size=30,
    ),
    st.randoms(use_true_random=False),
)
def test_full_width_text_gives_the_findings_of_its_folded_form(parts: list[str], rnd: Any) -> None:
    """The candidate regex runs on the original text (its classes hold the full-width
    forms); it must find exactly what a scan of the folded text finds."""
    wide = "".join(p.translate(_WIDE_DIGITS) if rnd.random() < 0.5 else p for p in parts)
    folded = fold(wide)
    got = [(f.type, f.value, f.location.start, f.location.end) for f in detect(wide, today=TODAY)]
    ref = [(f.type, f.value, f.location.start, f.location.end) for f in detect(folded, today=TODAY)]
    assert got == ref


def test_mathematical_digits_are_folded_before_scanning() -> None:
    math_id = ID.translate({ord(c): chr(0x1D7CE + int(c)) for c in "0123456789"})
    found = detect("身份证号：" + math_id, today=TODAY)
    assert [(f.type, f.value) for f in found] == [("cn_resident_id", ID)]


# --- The scan's precomputed tables and context searches equal their plain definitions -----


def test_precomputed_tables_match_the_checks_they_replace() -> None:
    assert {p + q for p, qs in checks.PREFECTURES.items() for q in qs} == checks.REGION_PREFIXES
    assert {
        f"{n:04d}" for n in range(10_000) if checks.card_issuer(f"{n:04d}") is not None
    } == checks.ISSUER_PREFIXES
    assert {a + t for a, ts in checks.USCC_TYPES.items() for t in ts} == checks.USCC_TYPE_PAIRS
    plan = re.compile(r"1(?:3\d|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8\d|9[0-35-9])\d{8}")
    for n in range(1000):
        number = f"{n:03d}12345678"
        assert (number[:3] in detectors._MOBILE_PREFIXES) == bool(plan.fullmatch(number))


_EDGE_DATES = [
    f"{y}{md}"
    for y in ("1899", "1900", "1996", "2000", "2023", "2024")
    for md in ("0101", "0228", "0229", "0230", "0431", "0531", "0601", "0602", "1231", "1301")
]


def _plain_id_ok(value: str) -> bool:
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return (
        checks.region_ok(value[:6])
        and dt.date(1900, 1, 1) <= born <= TODAY
        and id_check(value[:17]) == value[17]
    )


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["110101", "440305", "132201", "650102", "710000", "990101", "113301"]),
    st.one_of(st.sampled_from(_EDGE_DATES), st.integers(18900000, 20301340).map("{:08d}".format)),
    st.text(alphabet="0123456789", min_size=3, max_size=3),
    st.sampled_from(list("0123456789Xx")),
)
def test_id18_ok_matches_the_plain_definition(region: str, date: str, seq: str, last: str) -> None:
    body = f"{region}{date}{seq}"
    for value in (body + last, body + id_check(body)):
        plain = _plain_id_ok(value)
        assert checks.id18_ok(value, checks.yyyymmdd(TODAY)) == plain, value
        assert checks.resident_id_ok(value, today=TODAY) == plain, value


def test_id18_ok_edge_dates() -> None:
    for date in _EDGE_DATES:
        body = f"110101{date}123"
        value = body + id_check(body)
        assert checks.id18_ok(value, checks.yyyymmdd(TODAY)) == _plain_id_ok(value), value


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.sampled_from(sorted(checks.USCC_TYPE_PAIRS)),
        st.text(checks.USCC_CHARS, min_size=2, max_size=2),
    ),
    st.sampled_from(["110101", "100000", "440305", "990101", "1A0101", "710000"]),
    st.text(alphabet=checks.USCC_CHARS, min_size=8, max_size=8),
    st.text(alphabet=checks.USCC_CHARS, min_size=2, max_size=2),
    st.booleans(),
)
def test_uscc_fast_checks_match_the_plain_definition(
    pair: str, region: str, org: str, tail: str, right_checks: bool
) -> None:
    value = pair + region + org + (org_check(org) if right_checks else tail[0])
    value += uscc_check(value) if right_checks else tail[1]
    plain = (
        value[1] in checks.USCC_TYPES.get(value[0], "")
        and value[2:8].isdigit()
        and (value[2:4] in checks.PROVINCES or value[2:8] == "100000")
        and org_check(value[8:16]) == value[16]
        and uscc_check(value[:17]) == value[17]
    )
    assert checks.uscc_ok(value) == checks.uscc_shape_ok(value) == plain, value


def test_uscc_organisation_check_for_every_remainder() -> None:
    g = Gen(11)
    seen = set()
    while len(seen) < 11:
        value = g.uscc()
        assert checks.uscc_ok(value), value
        seen.add(value[16])
        wrong = value[:16] + next(c for c in "0123456789X" if c != value[16]) + value[17]
        assert not checks.uscc_shape_ok(wrong)


def test_luhn_reads_other_unicode_digits_like_ascii() -> None:
    assert checks.luhn_ok(CARD.translate(_WIDE_DIGITS))
    assert not checks.luhn_ok((CARD[:-1] + "9").translate(_WIDE_DIGITS))


def _plain_context(words: str) -> re.Pattern[str]:
    """The context patterns as first written: the word list under IGNORECASE, each ASCII
    letter also accepting its full-width form."""
    wide = re.sub(r"[A-Za-z]", lambda m: f"[{m.group()}{chr(ord(m.group()) + 0xFEE0)}]", words)
    return re.compile(wide, re.IGNORECASE)


_CONTEXT_PATTERNS = [
    (detectors._CARD_WORDS, detectors._CARD_CTX),
    (detectors._ID_WORDS, detectors._ID_CTX),
    (detectors._PASSPORT_WORDS, detectors._PASSPORT_CTX),
    (detectors._PERMIT_WORDS, detectors._PERMIT_CTX),
    (detectors._NEG_WORDS, detectors._NEG_CTX),
    (detectors._NEG_CARD_WORDS, detectors._NEG_CARD_CTX),
]


def test_context_first_class_holds_every_case_partner_in_unicode() -> None:
    """The compiled patterns start with a class computed over the BMP: no character
    outside it may match a word's first letter under IGNORECASE."""
    everything = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    for words, compiled in _CONTEXT_PATTERNS:
        firsts = "|".join(
            f"[{w[0]}{chr(ord(w[0]) + 0xFEE0)}]" if w[0].isascii() and w[0].isalpha() else w[0]
            for w in words.split("|")
        )
        first_class = re.compile(compiled.pattern[: compiled.pattern.index("]") + 1])
        for ch in set(re.findall(firsts, everything, re.IGNORECASE)):
            assert first_class.fullmatch(ch), (words, ch)


_CONTEXT_ALPHABET = "".join(
    sorted(
        set(
            "".join(w for w, _ in _CONTEXT_PATTERNS).replace("|", "")
            + "CARDIDEPacdeipnortv"
            + "ＣＡＲＤｃａｒｄＩＤｉｄ\u0130\u0131\u017f\u212a，。：：1 "
        )
    )
)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=_CONTEXT_ALPHABET, max_size=40), st.data())
def test_context_patterns_find_words_where_the_plain_lists_do(text: str, data: Any) -> None:
    pos = data.draw(st.integers(min_value=0, max_value=len(text)))
    end = data.draw(st.integers(min_value=pos, max_value=len(text) + 2))
    for words, compiled in _CONTEXT_PATTERNS:
        plain = _plain_context(words)
        assert (compiled.search(text, pos, end) is None) == (plain.search(text, pos, end) is None)


@pytest.mark.parametrize(
    "candidate", ["6222021234567890128", "6222 0212 3456 7890 128", "G12345678"]
)
def test_nearest_first_context_search_equals_one_window(candidate: str) -> None:
    """`_has` searches the nearest characters first; a word anywhere in the window,
    across the cut included, counts as before."""
    pad = "本表所填内容真实有效如有虚假申请人愿意承担由此产生的一切法律后果和责任。" * 3
    for words, compiled in _CONTEXT_PATTERNS:
        for word in words.split("|"):
            for gap in range(60):
                for text in (
                    word + pad[:gap] + candidate + pad[:20],
                    pad[:60] + candidate + pad[: gap % 16] + word + pad[:5],
                ):
                    s = text.index(candidate)
                    e = s + len(candidate)
                    one = compiled.search(text, max(0, s - 48), e + 12) is not None
                    assert detectors._has(compiled, text, s, e, "") == one, (word, gap)


@pytest.mark.parametrize(
    ("text", "email"),
    [
        ("QQ邮箱 123456789012@qq.com 。", "123456789012@qq.com"),
        ("邮箱：13812345678@163.com，电话另见", "13812345678@163.com"),
        ("mail 13812345678.li@x.cn", "13812345678.li@x.cn"),
        ("11010519491231002X@example.cn", "11010519491231002x@example.cn"),
        ("８６１３８１２３４５６７８＠ｑｑ．ｃｏｍ", "8613812345678@qq.com"),
    ],
)
def test_a_number_that_is_a_mailbox_is_the_email_not_the_number(text: str, email: str) -> None:
    found = [(f.type, f.value) for f in detect(text, today=TODAY)]
    assert found == [("email", email)]


def test_a_number_next_to_an_email_is_still_found() -> None:
    found = [(f.type, f.value) for f in detect("电话13812345678, a@b.cn", today=TODAY)]
    assert found == [("cn_mobile", "13812345678"), ("email", "a@b.cn")]


def test_detect_leaves_the_cycle_collector_as_it_found_it() -> None:
    import gc

    text = "身份证 11010519491231002X 手机 13812345678"
    assert gc.isenabled()
    assert len(detect(text, today=TODAY)) == 2
    assert gc.isenabled()
    gc.disable()
    try:
        assert len(detect(text, today=TODAY)) == 2
        assert not gc.isenabled()
    finally:
        gc.enable()
