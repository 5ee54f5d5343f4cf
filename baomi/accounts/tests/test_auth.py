"""Sign-in, two-factor, lockout, sessions and deactivation through the real views."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client as HttpClient
from django.utils import timezone

from baomi.accounts import services
from baomi.accounts.models import ApiToken, Level, Role, StaffStatus, User, UserSession
from conftest import PASSWORD, totp_now

pytestmark = pytest.mark.django_db


def _login(client: HttpClient, username: str, password: str = PASSWORD) -> object:
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_passwords_are_hashed_with_argon2(make_user):
    user = make_user("hash1")
    assert user.password.startswith("argon2$argon2id$")
    assert PASSWORD not in user.password


def test_login_without_2fa_for_low_clearance_accountant(make_user):
    make_user("acct9", clearance=Level.INTERNAL)
    c = HttpClient()
    r = _login(c, "acct9")
    assert r.status_code == 302
    assert c.get("/").status_code == 200


def test_wrong_password_gives_localized_error_and_no_session(make_user):
    make_user("acct8")
    c = HttpClient(HTTP_ACCEPT_LANGUAGE="zh-hans")
    r = _login(c, "acct8", "wrong-password")
    assert r.status_code == 400
    assert "用户名或密码错误" in r.content.decode()
    assert c.get("/").status_code == 302  # still anonymous: redirected to login
    r_en = HttpClient(HTTP_ACCEPT_LANGUAGE="en")
    assert "Wrong username or password" in _login(r_en, "acct8", "nope").content.decode()


def test_login_page_is_chinese_by_default():
    r = HttpClient().get("/accounts/login/")
    body = r.content.decode()
    assert r.status_code == 200
    assert 'lang="zh-CN"' in body and "登录" in body


def test_totp_login_flow_rotates_session_and_rejects_replay(make_user, enrol_totp):
    user = make_user("mgr1", role=Role.MANAGER, clearance=Level.CONFIDENTIAL)
    device = enrol_totp(user)
    c = HttpClient()
    c.get("/accounts/login/")
    anon_key = c.session.session_key
    r = _login(c, "mgr1")
    assert r.status_code == 302 and r["Location"].endswith("/accounts/login/verify/")
    # Password alone is not a login.
    assert c.get("/").status_code == 302
    code = totp_now(device)
    r = c.post("/accounts/login/verify/", {"otp_token": code})
    assert r.status_code == 302
    assert c.get("/").status_code == 200
    assert c.session.session_key != anon_key
    # The same code cannot be used again in a new sign-in.
    c2 = HttpClient()
    _login(c2, "mgr1")
    r = c2.post("/accounts/login/verify/", {"otp_token": code})
    assert r.status_code == 400
    assert c2.get("/").status_code == 302


def test_expired_totp_code_is_refused(make_user, enrol_totp):
    user = make_user("mgr2", role=Role.MANAGER)
    device = enrol_totp(user)
    c = HttpClient()
    _login(c, "mgr2")
    old = totp_now(device, offset_steps=-5)
    r = c.post("/accounts/login/verify/", {"otp_token": old})
    assert r.status_code == 400
    assert c.get("/").status_code == 302


def test_recovery_code_works_once(make_user, enrol_totp):
    user = make_user("mgr3", role=Role.MANAGER)
    enrol_totp(user)
    codes = services.recovery_codes_regenerate(user=user)
    c = HttpClient()
    _login(c, "mgr3")
    assert c.post("/accounts/login/verify/", {"otp_token": codes[0]}).status_code == 302
    c2 = HttpClient()
    _login(c2, "mgr3")
    assert c2.post("/accounts/login/verify/", {"otp_token": codes[0]}).status_code == 400


def test_mfa_required_roles_are_sent_to_enrolment(make_user):
    make_user("comp1", role=Role.COMPLIANCE)
    c = HttpClient()
    r = _login(c, "comp1")
    assert r["Location"].endswith("/accounts/2fa/setup/")
    r = c.get("/clients/")
    assert r.status_code == 302 and r["Location"].endswith("/accounts/2fa/setup/")
    # The API refuses the unverified session as well.
    assert c.get("/api/v1/clients").status_code == 401


def test_enrolment_confirms_device_and_shows_recovery_codes(make_user):
    user = make_user("comp2", role=Role.COMPLIANCE)
    c = HttpClient()
    _login(c, "comp2")
    page = c.get("/accounts/2fa/setup/")
    assert page.status_code == 200
    qr = c.get("/accounts/2fa/qr.svg")
    assert qr["Content-Type"] == "image/svg+xml"
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user=user, confirmed=False)
    r = c.post("/accounts/2fa/setup/", {"otp_token": "000000"})
    assert r.status_code == 400
    time.sleep(1.1)  # django-otp throttles the next attempt after a failure
    r = c.post("/accounts/2fa/setup/", {"otp_token": totp_now(device)})
    assert r.status_code == 200
    assert user.recovery_codes.count() == 10
    device.refresh_from_db()
    assert device.confirmed
    assert c.get("/clients/").status_code == 200


@pytest.mark.parametrize(
    "variant", ["victim", "VICTIM", " victim ", "Ｖｉｃｔｉｍ", "ＶＩＣＴＩＭ\t"]
)
def test_lockout_is_not_dodged_by_username_variants(make_user, variant):
    make_user("victim")
    c = HttpClient()
    variants = ["victim", "VICTIM", " victim ", "Ｖｉｃｔｉｍ", "vIcTiM"]
    for v in variants:
        r = _login(c, v, "bad-password")
        assert r.status_code in (400, 429)
    # Now even the right password is refused, in any spelling.
    r = _login(HttpClient(), variant, PASSWORD)
    assert r.status_code == 429
    assert "锁定" in r.content.decode()


def test_username_variants_log_into_the_same_account(make_user):
    make_user("acct7")
    c = HttpClient()
    assert _login(c, "  ＡＣＣＴ7 ").status_code == 302


def test_logout_ends_session_server_side(make_user):
    make_user("acct6")
    c = HttpClient()
    _login(c, "acct6")
    key = c.session.session_key
    assert Session.objects.filter(session_key=key).exists()
    c.post("/accounts/logout/")
    assert not Session.objects.filter(session_key=key).exists()
    # Replaying the old cookie does not work.
    c2 = HttpClient()
    c2.cookies["baomi_session"] = key
    assert c2.get("/").status_code == 302


def test_logout_requires_post(make_user):
    make_user("acct5")
    c = HttpClient()
    _login(c, "acct5")
    assert c.get("/accounts/logout/").status_code == 405


def test_deactivation_ends_sessions_and_revokes_tokens(make_user):
    user = make_user("acct4")
    c1, c2 = HttpClient(), HttpClient()
    _login(c1, "acct4")
    _login(c2, "acct4")
    issued = services.token_create(user=user)
    assert UserSession.objects.filter(user=user).count() == 2
    services.user_deactivate(user=user, left=True)
    assert UserSession.objects.filter(user=user).count() == 0
    assert c1.get("/").status_code == 302
    assert c2.get("/").status_code == 302
    assert ApiToken.objects.get(pk=issued.token.pk).revoked_at is not None
    assert services.token_authenticate(raw=issued.plaintext) is None
    user.refresh_from_db()
    assert user.status == StaffStatus.LEFT
    assert _login(HttpClient(), "acct4").status_code == 400


def test_idle_timeout(make_user, settings):
    make_user("acct3")
    c = HttpClient()
    _login(c, "acct3")
    session = c.session
    session["_baomi_last_seen"] = int(time.time()) - settings.SESSION_IDLE_SECONDS - 5
    session.save()
    r = c.get("/")
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]
    assert c.get("/").status_code == 302


def test_absolute_timeout(make_user, settings):
    make_user("acct2x")
    c = HttpClient()
    _login(c, "acct2x")
    c.get("/")
    session = c.session
    session["_baomi_auth_started"] = int(time.time()) - settings.SESSION_ABSOLUTE_SECONDS - 5
    session.save()
    assert c.get("/").status_code == 302


def test_token_lifecycle(make_user):
    user = make_user("script1")
    issued = services.token_create(user=user, expires_days=1)
    assert issued.plaintext.startswith("bm_")
    assert issued.token.secret_hash not in issued.plaintext
    assert services.token_authenticate(raw=issued.plaintext) == user
    # Forged: right prefix, wrong secret.
    forged = issued.plaintext[:-4] + "AAAA"
    assert services.token_authenticate(raw=forged) is None
    # Expired.
    later = timezone.now() + timedelta(days=2)
    assert services.token_authenticate(raw=issued.plaintext, now=later) is None
    services.token_revoke(prefix=issued.token.prefix)
    assert services.token_authenticate(raw=issued.plaintext) is None


def test_duplicate_username_is_refused(make_user):
    make_user("dup")
    from baomi.errors import Conflict

    with pytest.raises(Conflict):
        make_user("DUP")
    assert User.objects.filter(username="dup").count() == 1


def test_policy_role_names_are_the_role_labels_of_the_ui():
    """Refusal reasons name roles as the rest of the UI does, in both languages."""
    from django.utils import translation

    from baomi.policy import ROLE_NAMES

    for role in Role:
        zh, en = ROLE_NAMES[role]  # type: ignore[index]  # the same codes
        with translation.override("en"):
            assert str(role.label) == en
        with translation.override("zh-hans"):
            assert str(role.label) == zh
