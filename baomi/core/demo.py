"""`baomi demo`: an idempotent demo firm with realistic, synthetic data.

Everything is generated from a fixed seed, so re-running finds the same records and
changes nothing. Identifiers are synthetic but check-digit valid.
"""

from __future__ import annotations

import base64
import os
import random
import secrets
from datetime import date, timedelta
from typing import Any, TextIO

from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from baomi.access.demo import demo_agreements, demo_partner
from baomi.accounts.models import Department, Level, Role, User
from baomi.accounts.services import department_get_or_create, user_create
from baomi.audit.events import record
from baomi.clients import uscc
from baomi.clients.models import (
    Assignment,
    Client,
    ClientStatus,
    Contact,
    Engagement,
    EngagementStatus,
    ServiceType,
)
from baomi.clients.services import service_types_ensure
from baomi.vault import door

_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
REGIONS = (
    "310115",
    "310104",
    "110105",
    "110108",
    "440305",
    "440106",
    "330106",
    "320505",
    "510107",
    "420106",
)
COMPANY_STEMS = (
    ("上海", "恒信贸易"),
    ("上海", "明远科技"),
    ("北京", "启航文化传媒"),
    ("北京", "华瑞建筑工程"),
    ("深圳", "鹏程电子"),
    ("广州", "岭南餐饮管理"),
    ("杭州", "云栖网络科技"),
    ("苏州", "吴中精密机械"),
    ("成都", "蜀香食品"),
    ("武汉", "江城物流"),
    ("上海", "申达广告"),
    ("北京", "京华咨询"),
    ("深圳", "前海供应链"),
    ("广州", "珠江服饰"),
    ("杭州", "西湖茶业"),
    ("苏州", "姑苏家居"),
    ("成都", "天府软件"),
    ("武汉", "楚天医疗器械"),
    ("上海", "浦江商务咨询"),
    ("北京", "燕山新能源"),
)
SUFFIXES = ("有限公司", "有限责任公司", "股份有限公司")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = (
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "磊",
    "洋",
    "艳",
    "勇",
    "军",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "建华",
    "志强",
    "海燕",
    "文博",
    "子涵",
    "雨桐",
)
MOBILE_PREFIXES = ("138", "139", "136", "150", "151", "186", "187", "177", "199", "135")


def org_code_check(first8: str) -> str:
    """GB 11714 organisation code check character for 8 digits."""
    total = sum(int(ch) * w for ch, w in zip(first8, _ORG_WEIGHTS, strict=True))
    c = 11 - total % 11
    return "X" if c == 10 else ("0" if c == 11 else str(c))


def make_uscc(rng: random.Random, region: str) -> str:
    """A synthetic enterprise USCC: 9 (工商) 1 (企业), region, org code, check char."""
    org8 = "".join(str(rng.randrange(10)) for _ in range(8))
    first17 = "91" + region + org8 + org_code_check(org8)
    return first17 + uscc.check_character(first17)


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def _mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + "".join(str(rng.randrange(10)) for _ in range(8))


STAFF: tuple[tuple[str, str, str, str, str, str], ...] = (
    # username, display name, role, department, post, clearance
    ("admin", "系统管理员", Role.ADMIN, "", "系统管理员", Level.CONFIDENTIAL),
    ("manager", "周主管", Role.MANAGER, "记账一部", "部门主管", Level.CONFIDENTIAL),
    ("acct1", "李会计", Role.ACCOUNTANT, "记账一部", "主办会计", Level.CONFIDENTIAL),
    ("acct2", "王会计", Role.ACCOUNTANT, "记账二部", "会计", Level.INTERNAL),
    ("compliance", "陈保密专员", Role.COMPLIANCE, "合规部", "保密专员", Level.CONFIDENTIAL),
    ("auditor", "赵审计", Role.INTERNAL_AUDITOR, "审计部", "内部审计", Level.INTERNAL),
    ("partner1", "孙合作方", Role.PARTNER, "", "外部合作方（税务师事务所）", Level.INTERNAL),
)


def _ensure_user(username: str, password: str | None, **fields: Any) -> tuple[User, bool]:
    user = User.objects.filter(username=username).first()
    if user is not None:
        return user, False
    return (
        user_create(
            username=username, password=password, validate=False, actor="baomi-demo", **fields
        ),
        True,
    )


def _ensure_totp(user: User) -> TOTPDevice:
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="demo", confirmed=True)
    return device


def demo_load(*, stdout: TextIO, seed: int = 20261123) -> dict[str, Any]:
    """Load the demo firm (idempotent). Returns a summary, also printed to `stdout`."""
    rng = random.Random(seed)  # noqa: S311  (synthetic demo data must be reproducible)
    env_password = os.environ.get("BAOMI_DEMO_PASSWORD")
    password = env_password or secrets.token_urlsafe(9)
    created_users: list[str] = []
    totp: dict[str, str] = {}
    with transaction.atomic():
        service_types_ensure()
        services = {s.code: s for s in ServiceType.objects.all()}
        depts: dict[str, Department] = {}
        users: dict[str, User] = {}
        for username, display, role, dept, post, clearance in STAFF:
            department = None
            if dept:
                department = depts.get(dept) or department_get_or_create(name=dept)
                depts[dept] = department
            user, created = _ensure_user(
                username,
                password,
                role=role,
                display_name=display,
                department=department,
                post=post,
                clearance=clearance,
                email=f"{username}@demo-firm.example",
            )
            if created:
                created_users.append(username)
            elif env_password:
                user.set_password(env_password)
                user.save(update_fields=["password"])
            users[username] = user
        # Agreements and training in force (F23, F24) before anyone touches client data,
        # and one lapsed agreement (acct2) so the access gate can be seen working.
        demo_agreements(users=users)
        clients: list[Client] = []
        statuses = (
            [ClientStatus.ACTIVE] * 14
            + [ClientStatus.PROSPECT] * 3
            + [ClientStatus.SERVICE_ENDED, ClientStatus.SERVICE_ENDED, ClientStatus.DEREGISTERED]
        )
        service_plan = (
            ["bookkeeping"],
            ["bookkeeping", "registration"],
            ["transfer"],
            ["bookkeeping"],
            ["deregistration"],
        )
        for i, (city, stem) in enumerate(COMPANY_STEMS):
            code = make_uscc(rng, REGIONS[i % len(REGIONS)])
            name = f"{city}{stem}{SUFFIXES[i % len(SUFFIXES)]}"
            legal_rep = _person(rng)
            status = statuses[i]
            started = date(2019, 1, 1) + timedelta(days=rng.randrange(0, 2000))
            contacts = [(_person(rng), _mobile(rng)) for _ in range(1 + i % 2)]
            client = Client.objects.filter(uscc=code).first()
            if client is None:
                client = Client.objects.create(
                    name=name,
                    uscc=code,
                    legal_representative=legal_rep,
                    status=status,
                    department=depts["记账一部"] if i < 10 else depts["记账二部"],
                    service_started_on=None if status == ClientStatus.PROSPECT else started,
                    service_ended_on=(started + timedelta(days=700))
                    if status in (ClientStatus.SERVICE_ENDED, ClientStatus.DEREGISTERED)
                    else None,
                    deregistered_on=(started + timedelta(days=760))
                    if status == ClientStatus.DEREGISTERED
                    else None,
                    created_by=users["admin"],
                )
                plan = service_plan[i % len(service_plan)]
                if status == ClientStatus.DEREGISTERED:
                    plan = ["bookkeeping", "deregistration"]
                client.service_types.set([services[c] for c in plan])
                for n, (contact_name, mobile) in enumerate(contacts):
                    contact = Contact.objects.create(
                        client=client,
                        name=contact_name,
                        title="财务负责人" if n == 0 else "行政经理",
                        is_primary=n == 0,
                    )
                    # Contact details are sealed through the vault door, like any write.
                    door.record_write(
                        actor=users["admin"],
                        obj=contact,
                        values={
                            "mobile": mobile,
                            "email": f"contact{i + 1}-{n + 1}@client{i + 1}.example",
                        },
                    )
                for k, code_ in enumerate(plan):
                    Engagement.objects.create(
                        client=client,
                        service_type=services[code_],
                        contract_no=f"HT-{started.year}-{i + 1:03d}{k + 1}",
                        signed_on=started,
                        starts_on=started,
                        ends_on=client.service_ended_on,
                        status=EngagementStatus.ENDED
                        if client.service_ended_on
                        else EngagementStatus.ACTIVE,
                    )
            clients.append(client)
        for client in clients[:5]:
            Assignment.objects.get_or_create(
                client=client, user=users["acct1"], defaults={"assigned_by": users["manager"]}
            )
        for client in clients[10:15]:
            Assignment.objects.get_or_create(
                client=client, user=users["acct2"], defaults={"assigned_by": users["manager"]}
            )
        portal, created = _ensure_user(
            "client1",
            password,
            role=Role.CLIENT,
            display_name=f"{clients[0].name} 财务",
            portal_client_id=clients[0].pk,
            clearance=Level.INTERNAL,
        )
        if created:
            created_users.append("client1")
        users["client1"] = portal
        for username, user in users.items():
            if user.requires_mfa:
                device = _ensure_totp(user)
                totp[username] = base64.b32encode(device.bin_key).decode().rstrip("=")
        # partner1's organisation and its client authorization (baomi/access/demo.py).
        demo_partner(users=users, clients=clients)
        record("baomi-demo", "demo.load", reason=f"clients={len(clients)}")
    print("Demo firm loaded: 7 staff, 20 clients, portal user client1.", file=stdout)
    if created_users and not env_password:
        print(f"Password for new demo users ({', '.join(created_users)}): {password}", file=stdout)
    elif env_password:
        print("Demo users use the password from $BAOMI_DEMO_PASSWORD.", file=stdout)
    else:
        print("Demo users already existed; their passwords are unchanged.", file=stdout)
    print("Two-factor (TOTP) secrets — add them to an authenticator app:", file=stdout)
    for username, secret in totp.items():
        print(f"  {username:<11} {secret}", file=stdout)
    return {"created_users": created_users, "totp": totp, "clients": len(clients)}
