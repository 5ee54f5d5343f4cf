"""Deterministic labelled corpus of Chinese business documents for detector evaluation.

Every planted identifier is generated here with check characters computed by this
module's own implementations (not the detector's), rendered in one of its real-world
variants (spaced, hyphenated, full-width, +86…), and recorded as (type, normalized value).
Decoys are things a good detector must reject: invoice/order/contract numbers, dates,
amounts, identifiers with wrong check characters or impossible dates, numbers inside
longer digit runs, 11-digit numbers outside the mobile plan, Luhn-valid numbers without
card context, passport-shaped product codes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

REGIONS = (  # noqa: SIM905 - a table is easier to read as one string
    "110101 110105 110108 120101 130102 140105 150102 210102 220102 230103 310104 310115 "
    "320102 330106 340104 350203 360102 370202 410105 420102 430102 440106 440305 450103 "
    "460105 500103 510104 520102 530102 540102 610113 620102 630102 640104 650102 "
    "132201 362201 422301"  # old 地区 codes still carried by people born before the reforms
).split()
MOBILE_PREFIXES = (
    [f"13{d}" for d in range(10)]
    + [f"14{d}" for d in range(5, 10)]
    + [f"15{d}" for d in (0, 1, 2, 3, 5, 6, 7, 8, 9)]
    + ["162", "165", "166", "167"]
    + [f"17{d}" for d in range(9)]
    + [f"18{d}" for d in range(10)]
    + [f"19{d}" for d in (0, 1, 2, 3, 5, 6, 7, 8, 9)]
)
CARD_PREFIXES = ("622202", "621700", "622848", "621661", "622588", "623058", "436742", "524047")
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
FW = str.maketrans("0123456789Xx-", "０１２３４５６７８９Ｘｘ－")
FILLER = (
    "双方本着平等自愿、诚实信用的原则，经友好协商，就下列事项达成一致意见，共同遵守执行。",
    "本协议未尽事宜，由双方另行协商解决；协商不成的，提交有管辖权的人民法院诉讼解决。",
    "乙方应遵守甲方依法制定的各项规章制度，服从工作安排，按时保质完成本职工作任务。",
    "本表所填内容真实有效，如有虚假，申请人愿意承担由此产生的一切法律后果和责任。",
    "请于收到本通知之日起十五个工作日内办理相关手续，逾期未办理的视为自动放弃权利。",
)


def id_check(body17: str) -> str:
    weights = [2 ** (17 - i) % 11 for i in range(17)]  # GB 11643: W_i = 2^(i-1) mod 11
    total = sum(int(c) * w for c, w in zip(body17, weights, strict=True))
    return "10X98765432"[total % 11]


def luhn_complete(body: str) -> str:
    digits = [int(c) for c in body + "0"]
    total = 0
    for i, d in enumerate(reversed(digits)):
        doubled = d * 2 if i % 2 else d
        total += doubled - 9 if doubled > 9 else doubled
    return body + str((10 - total % 10) % 10)


def org_check(body8: str) -> str:
    values = [int(c) if c.isdigit() else ord(c) - 55 for c in body8]
    c = 11 - sum(v * w for v, w in zip(values, (3, 7, 9, 10, 5, 8, 4, 2), strict=True)) % 11
    return {10: "X", 11: "0"}.get(c, str(c))


def uscc_check(body17: str) -> str:
    weights = [3**i % 31 for i in range(17)]
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(body17, weights, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31]


@dataclass
class Doc:
    kind: str
    lines: list[str] = field(default_factory=list)
    expected: list[tuple[str, str]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


class Gen:
    """Random identifiers and their renderings; all randomness from one seeded Random."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def name(self) -> str:
        return self.r.choice(SURNAMES) + "".join(self.r.choices(GIVEN, k=self.r.randint(1, 2)))

    def birth(self) -> str:
        y = self.r.randint(1940, 2005)
        m = self.r.randint(1, 12)
        d = self.r.randint(1, 28)
        return f"{y:04d}{m:02d}{d:02d}"

    def resident_id(self, *, want_x: bool = False) -> str:
        while True:
            body = self.r.choice(REGIONS) + self.birth() + f"{self.r.randint(0, 999):03d}"
            value = body + id_check(body)
            if value.endswith("X") == want_x or not want_x:
                return value

    def legacy_id(self) -> str:
        return self.r.choice(REGIONS) + self.birth()[2:] + f"{self.r.randint(0, 999):03d}"

    def uscc(self) -> str:
        auth, kind = self.r.choice(
            [
                ("9", "1"),
                ("9", "1"),
                ("9", "2"),
                ("9", "3"),
                ("5", "1"),
                ("1", "2"),
                ("Y", "1"),
                ("N", "2"),
            ]
        )
        region = self.r.choice(REGIONS)
        org_chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        body8 = ("MA" if self.r.random() < 0.5 else "") + "".join(self.r.choices(org_chars, k=8))
        body8 = body8[:8]
        body17 = auth + kind + region + body8 + org_check(body8)
        return body17 + uscc_check(body17)

    def card(self) -> str:
        prefix = self.r.choice(CARD_PREFIXES)
        length = self.r.choice((16, 16, 19, 19, 17, 18))
        body = prefix + "".join(self.r.choices("0123456789", k=length - len(prefix) - 1))
        return luhn_complete(body)

    def mobile(self) -> str:
        return self.r.choice(MOBILE_PREFIXES) + f"{self.r.randint(0, 10**8 - 1):08d}"

    def email(self) -> str:
        user = "".join(self.r.choices("abcdefghijklmnopqrstuvwxyz", k=self.r.randint(3, 8)))
        user += self.r.choice(["", ".li", "_2023", "88"])
        dom = self.r.choice(["example.com", "163.com", "qq.com", "corp.example.cn", "foxmail.com"])
        return f"{user}@{dom}"

    def passport(self) -> str:
        letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
        form = self.r.choice(["E8", "EL", "G8", "P7", "S8", "D8"])
        digits = "0123456789"
        if form == "EL":
            return "E" + self.r.choice(letters) + "".join(self.r.choices(digits, k=7))
        n = int(form[1])
        return form[0] + "".join(self.r.choices(digits, k=n))

    def permit(self) -> str:
        digits = "0123456789"
        form = self.r.choice(["C8", "CL", "H8", "M8", "H10"])
        if form == "CL":
            return (
                "C"
                + self.r.choice("ABCDEFGHJKLMNPQRSTUVWXYZ")
                + "".join(self.r.choices(digits, k=7))
            )
        return form[0] + "".join(self.r.choices(digits, k=int(form[1:])))

    # --- renderings ----------------------------------------------------------------------

    def render_id(self, v: str) -> str:
        style = self.r.choice(["plain", "plain", "lower", "s6444", "s684", "h6444", "fw"])
        if style == "lower":
            return v[:17] + v[17].lower()
        if style == "s6444":
            return f"{v[:6]} {v[6:10]} {v[10:14]} {v[14:]}"
        if style == "s684":
            return f"{v[:6]} {v[6:14]} {v[14:]}"
        if style == "h6444":
            return f"{v[:6]}-{v[6:10]}-{v[10:14]}-{v[14:]}"
        if style == "fw":
            return v.translate(FW).replace("Ｘ", self.r.choice(["Ｘ", "ｘ"]))
        return v

    def render_card(self, v: str) -> str:
        style = self.r.choice(["plain", "plain", "space", "hyphen", "fw"])
        if style in {"space", "hyphen"}:
            sep = " " if style == "space" else "-"
            return sep.join(v[i : i + 4] for i in range(0, len(v), 4))
        if style == "fw":
            return v.translate(FW)
        return v

    def render_mobile(self, v: str) -> str:
        style = self.r.choice(
            ["plain", "plain", "s344", "h344", "+86", "+86s", "0086", "86", "fw", "+86-"]
        )
        grouped = f"{v[:3]} {v[3:7]} {v[7:]}"
        return {
            "plain": v,
            "s344": grouped,
            "h344": f"{v[:3]}-{v[3:7]}-{v[7:]}",
            "+86": "+86" + v,
            "+86s": "+86 " + grouped,
            "+86-": f"+86-{v[:3]}-{v[3:7]}-{v[7:]}",
            "0086": "0086 " + v,
            "86": "86" + v,
            "fw": v.translate(FW),
        }[style]


class Builder:
    """Writes one document, recording planted identifiers."""

    def __init__(self, gen: Gen, kind: str) -> None:
        self.g = gen
        self.doc = Doc(kind)

    def line(self, text: str) -> None:
        self.doc.lines.append(text)

    def plant(self, type_: str, value: str, rendered: str) -> str:
        self.doc.expected.append((type_, value))
        return rendered

    def id_(self, *, legacy: bool = False) -> str:
        if legacy:
            v = self.g.legacy_id()
            return self.plant("cn_resident_id", v, v)
        v = self.g.resident_id(want_x=self.g.r.random() < 0.15)
        return self.plant("cn_resident_id", v, self.g.render_id(v))

    def card(self) -> str:
        v = self.g.card()
        return self.plant("bank_card", v, self.g.render_card(v))

    def mobile(self) -> str:
        v = self.g.mobile()
        return self.plant("cn_mobile", v, self.g.render_mobile(v))

    def email(self) -> str:
        v = self.g.email()
        shown = v.upper() if self.g.r.random() < 0.1 else v
        return self.plant("email", v, shown)

    def uscc(self) -> str:
        v = self.g.uscc()
        return self.plant("cn_uscc", v, v.translate(FW) if self.g.r.random() < 0.1 else v)

    def passport(self) -> str:
        v = self.g.passport()
        return self.plant("passport", v, v)

    def permit(self) -> str:
        v = self.g.permit()
        return self.plant("hk_mo_permit", v, v)

    def filler(self) -> None:
        self.line(self.g.r.choice(FILLER))

    def decoy(self) -> None:
        """One decoy line, preceded by filler so no context word of a neighbour reaches it."""
        self.filler()
        self.line(self.g.r.choice(DECOYS)(self.g))


def _bad_check_id(g: Gen) -> str:
    v = g.resident_id()
    wrong = g.r.choice([c for c in "0123456789X" if c != v[17]])
    return f"身份证号码：{v[:17]}{wrong}（校验位错误）"


def _bad_date_id(g: Gen) -> str:
    date = g.r.choice(["19900230", "18991231", "20910101", "19871331", "20000431"])
    body = g.r.choice(REGIONS) + date + f"{g.r.randint(0, 999):03d}"
    return f"身份证号码：{body}{id_check(body)}"


def _bad_region_id(g: Gen) -> str:
    body = g.r.choice(["990101", "100101", "000000", "661001", "113301"]) + g.birth() + "123"
    return f"公民身份号码 {body}{id_check(body)}"


def _bad_uscc(g: Gen) -> str:
    v = g.uscc()
    wrong = g.r.choice([c for c in USCC_CHARS if c != v[17]])
    return f"统一社会信用代码：{v[:17]}{wrong}"


def _bad_luhn_card(g: Gen) -> str:
    v = g.card()
    wrong = str((int(v[-1]) + g.r.randint(1, 9)) % 10)
    return f"银行卡号：{v[:-1]}{wrong}"


def _luhn_no_context(g: Gen) -> str:
    v = g.card()
    return f"系统生成的追踪码为{v}，请妥善保存以备查询。"


def _inside_run(g: Gen) -> str:
    choice = g.r.choice(["id", "mobile", "card"])
    inner = {"id": g.resident_id, "mobile": g.mobile, "card": g.card}[choice]()
    return f"数据校验串：{g.r.randint(100, 999)}{inner}{g.r.randint(1000, 9999)}"


def _off_plan_mobile(g: Gen) -> str:
    prefix = g.r.choice(["100", "110", "120", "140", "141", "154", "160", "161", "179", "194"])
    return f"内部分机编码 {prefix}{g.r.randint(0, 10**8 - 1):08d}"


def _invoice_numbers(g: Gen) -> str:
    return (
        f"发票代码：{g.r.randint(10**11, 10**12 - 1)} 发票号码：{g.r.randint(10**7, 10**8 - 1)} "
        f"全电发票号码：{g.r.choice(['23', '24'])}{g.r.randint(10**17, 10**18 - 1)}"
    )


def _order_numbers(g: Gen) -> str:
    return (
        f"订单号：2023{g.r.randint(10**13, 10**14 - 1)} "
        f"DD{g.r.randint(10**15, 10**16 - 1)} 物流单号：SF{g.r.randint(10**12, 10**13 - 1)}"
    )


def _contract_numbers(g: Gen) -> str:
    serial = g.r.randint(10**8, 10**9 - 1)
    return f"合同编号：HT-2023-{g.r.randint(1000, 9999)}-{g.r.randint(1, 99):03d}，SH2023{serial}"


def _dates_amounts(g: Gen) -> str:
    return (
        f"签订日期：2023-{g.r.randint(1, 12):02d}-{g.r.randint(1, 28):02d}，"
        f"金额人民币{g.r.randint(1, 9_999_999):,}.{g.r.randint(0, 99):02d}元，"
        f"时间戳{g.r.randint(1_600_000_000_000, 1_700_000_000_000)}"
    )


def _product_codes(g: Gen) -> str:
    return (
        f"设备编码 G{g.r.randint(10**7, 10**8 - 1)}，物料 E{g.r.randint(10**7, 10**8 - 1)}，"
        f"批号 C{g.r.randint(10**7, 10**8 - 1)}、H{g.r.randint(10**7, 10**8 - 1)}"
    )


def _corporate_account(g: Gen) -> str:
    body = f"{g.r.choice(['1102', '3100', '4400', '1001'])}{g.r.randint(10**14, 10**15 - 1)}"
    return f"基本存款账户账号：{body}"


def _legacy_like(g: Gen) -> str:
    first = g.r.randint(7 * 10**14, 8 * 10**14 - 1)
    return f"运单编号 {first}，快递单号 {g.r.randint(10**14, 2 * 10**14)}"


DECOYS: tuple[Callable[[Gen], str], ...] = (
    _bad_check_id,
    _bad_date_id,
    _bad_region_id,
    _bad_uscc,
    _bad_luhn_card,
    _luhn_no_context,
    _inside_run,
    _off_plan_mobile,
    _invoice_numbers,
    _order_numbers,
    _contract_numbers,
    _dates_amounts,
    _product_codes,
    _corporate_account,
    _legacy_like,
)


def _contract(b: Builder) -> None:
    g = b.g
    b.line(f"劳动合同书  合同编号：HT-{g.r.randint(2018, 2024)}-{g.r.randint(1, 9999):04d}")
    b.line(f"甲方（用人单位）：{g.name()}科技有限公司  统一社会信用代码：{b.uscc()}")
    b.line(f"乙方（劳动者）：{g.name()}  身份证号码：{b.id_()}")
    b.filler()
    b.line(f"乙方联系电话：{b.mobile()}  电子邮箱：{b.email()}")
    b.line(f"工资发放至乙方本人工资卡，开户银行：中国工商银行，卡号：{b.card()}")
    b.decoy()
    b.filler()
    b.line(f"甲方联系人：{g.name()}，手机 {b.mobile()}")
    b.decoy()


def _payroll(b: Builder) -> None:
    g = b.g
    b.line(f"{g.r.randint(2019, 2024)}年{g.r.randint(1, 12)}月工资发放表")
    b.line("序号\t姓名\t身份证号\t手机号\t开户行\t工资卡号\t实发工资")
    for i in range(1, g.r.randint(4, 14)):
        b.line(
            f"{i}\t{g.name()}\t{b.id_()}\t{b.mobile()}\t中国建设银行\t{b.card()}\t"
            f"{g.r.randint(3000, 30000)}.{g.r.randint(0, 99):02d}"
        )
    b.decoy()


def _statement(b: Builder) -> None:
    g = b.g
    b.line("中国农业银行 个人账户交易流水")
    b.line(f"户名：{g.name()}  账号：{b.card()}  证件号码：{b.id_()}")
    for _ in range(g.r.randint(3, 8)):
        b.line(
            f"2023-{g.r.randint(1, 12):02d}-{g.r.randint(1, 28):02d}\t"
            f"交易流水号{g.r.randint(10**19, 10**20 - 1)}\t转账\t"
            f"{g.r.randint(1, 99999)}.{g.r.randint(0, 99):02d}\t对方账号 {b.card()}"
        )
    b.decoy()


def _change_form(b: Builder) -> None:
    g = b.g
    b.line("公司变更（备案）登记申请书")
    b.line(f"名称：{g.name()}贸易有限公司  统一社会信用代码：{b.uscc()}")
    b.line(f"法定代表人：{g.name()}  身份证件号码：{b.id_()}  移动电话：{b.mobile()}")
    b.filler()
    b.line(f"外方股东：John Smith  护照号码：{b.passport()}  国籍：英国")
    b.filler()
    b.line(f"香港股东：{g.name()}  港澳居民来往内地通行证号码：{b.permit()}")
    b.filler()
    b.line(f"联络员：{g.name()}  身份证：{b.id_(legacy=g.r.random() < 0.5)}  邮箱：{b.email()}")
    b.decoy()
    b.decoy()


def _invoice(b: Builder) -> None:
    g = b.g
    b.line("增值税专用发票")
    b.line(
        f"发票代码：{g.r.randint(10**11, 10**12 - 1)}  发票号码：{g.r.randint(10**7, 10**8 - 1)}"
        f"  开票日期：2023年{g.r.randint(1, 12)}月{g.r.randint(1, 28)}日"
    )
    b.line(f"购买方 名称：{g.name()}咨询有限公司 纳税人识别号：{b.uscc()}")
    b.line(
        f"地址、电话：上海市浦东新区世纪大道{g.r.randint(1, 999)}号 "
        f"021-{g.r.randint(10**7, 10**8 - 1)}"
    )
    b.line(f"销售方 名称：{g.name()}财务咨询有限公司 纳税人识别号：{b.uscc()}")
    b.line(f"开户行及账号：招商银行上海分行 {b.card()}")
    b.line(f"价税合计（小写）¥{g.r.randint(100, 999999)}.{g.r.randint(0, 99):02d}")
    b.decoy()


def _travel(b: Builder) -> None:
    g = b.g
    b.line("员工因公出境（港澳）审批表")
    b.line(f"姓名：{g.name()}  往来港澳通行证号码：{b.permit()}  有效期至2029-06-30")
    b.filler()
    b.line(f"护照号：{b.passport()}  联系方式：{b.mobile()}  {b.email()}")
    b.decoy()


KINDS: dict[str, Callable[[Builder], None]] = {
    "contract": _contract,
    "payroll": _payroll,
    "statement": _statement,
    "change_form": _change_form,
    "invoice": _invoice,
    "travel": _travel,
}


def generate(seed: int = 20240601, n_docs: int = 300) -> list[Doc]:
    """`n_docs` documents cycling through the kinds; same seed, same corpus."""
    gen = Gen(seed)
    docs = []
    kinds = list(KINDS.items())
    for i in range(n_docs):
        kind, build = kinds[i % len(kinds)]
        b = Builder(gen, kind)
        build(b)
        docs.append(b.doc)
    return docs
