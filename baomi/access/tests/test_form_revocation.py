"""Revocation of the certificate a client signed its authorization form with: with trust
roots and the CAs' revocation lists configured (BAOMI_FORM_CRLS, files the firm downloads;
nothing is fetched), a form signed with a revoked certificate, or under a revoked
intermediate CA, is refused, whatever the certificate says of distribution points or
delta lists; an issuer without a list among them, or one whose list is out of date,
refuses until the file is there; a list under a CA's name but signed by another key is
no list of that CA; an unreadable list refuses every form and fails the system check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from baomi.access import checks
from baomi.access.models import ClientAuthorization
from baomi.access.tests.test_form_signature import _grant, _issue, _refused_as
from baomi.access.tests.test_services import firm
from baomi.errors import ValidationFailed
from baomi.testing.pdfsign import Identity, identity, revocation_list, sign_pdf

pytestmark = pytest.mark.django_db
__all__ = ["firm"]

URL = "http://crl.example.cn/ca.crl"


@pytest.fixture
def pki(firm: dict[str, Any], settings: Any, tmp_path: Path) -> dict[str, Any]:
    ca = identity("示例电子认证中心", ca=True)
    roots = tmp_path / "roots.pem"
    roots.write_bytes(ca.pem())
    settings.BAOMI_FORM_TRUST_ROOTS = [str(roots)]
    crl = tmp_path / "ca.crl"
    settings.BAOMI_FORM_CRLS = [str(crl)]
    signer = identity("恒信贸易有限公司", issuer=ca, uscc=firm["client"].uscc, crl_url=URL)
    return {"ca": ca, "crl": crl, "signer": signer}


def _publish(pki: dict[str, Any], *revoked: Identity, **kw: Any) -> None:
    pki["crl"].write_bytes(revocation_list(pki["ca"], revoked, **kw))


def test_a_certificate_the_ca_revoked_does_not_sign(firm, pki):
    _publish(pki, pki["signer"])
    terms, form = _issue(firm)
    _refused_as(firm, terms, sign_pdf(form, pki["signer"], chain=(pki["ca"],)),
                "form_signer_revoked")


def test_a_current_list_that_does_not_name_the_certificate_lets_it_sign(firm, pki):
    other = identity("别家公司", issuer=pki["ca"], crl_url=URL)
    _publish(pki, other)
    terms, form = _issue(firm)
    auth = _grant(firm, terms, sign_pdf(form, pki["signer"], chain=(pki["ca"],)))
    assert auth.form_signer_trusted


def test_an_out_of_date_list_refuses_until_it_is_renewed(firm, pki):
    _publish(pki, issued=datetime.now(UTC) - timedelta(days=10), days=3)
    terms, form = _issue(firm)
    signed = sign_pdf(form, pki["signer"], chain=(pki["ca"],))
    _refused_as(firm, terms, signed, "form_revocation_stale")
    _publish(pki)
    assert _grant(firm, terms, signed).form_signer_trusted


def _signed(firm: Any, pki: dict[str, Any], signer: Identity | None = None,
            chain: tuple[Identity, ...] = ()) -> tuple[Any, bytes]:
    terms, form = _issue(firm)
    return terms, sign_pdf(form, signer or pki["signer"], chain=chain or (pki["ca"],))


def test_a_revoked_certificate_naming_no_distribution_point_is_refused_too(firm, pki):
    plain = identity("恒信贸易有限公司", issuer=pki["ca"], uscc=firm["client"].uscc)
    _publish(pki, plain)
    _refused_as(firm, *_signed(firm, pki, plain), "form_signer_revoked")


def test_an_issuer_without_a_configured_list_refuses(firm, pki, tmp_path, settings):
    other_ca = identity("另一家认证中心", ca=True)
    only_other = tmp_path / "other.crl"
    only_other.write_bytes(revocation_list(other_ca))
    settings.BAOMI_FORM_CRLS = [str(only_other)]
    _refused_as(firm, *_signed(firm, pki), "form_revocation_unknown")


def test_an_intermediate_whose_list_is_missing_refuses(firm, pki):
    sub = identity("示例电子认证中心 二级", issuer=pki["ca"], ca=True)
    signer = identity("恒信贸易有限公司", issuer=sub, uscc=firm["client"].uscc)
    _publish(pki)  # the root's list only: it does not cover what `sub` issued
    _refused_as(firm, *_signed(firm, pki, signer, (sub, pki["ca"])),
                "form_revocation_unknown")


def test_a_stale_delta_list_still_revokes(firm, pki, tmp_path, settings):
    _publish(pki)
    delta = tmp_path / "delta.crl"
    delta.write_bytes(revocation_list(pki["ca"], (pki["signer"],), delta_of=1,
                                      issued=datetime.now(UTC) - timedelta(days=10), days=3))
    settings.BAOMI_FORM_CRLS = [str(pki["crl"]), str(delta)]
    _refused_as(firm, *_signed(firm, pki), "form_signer_revoked")


def test_a_list_under_the_cas_name_signed_by_another_key_is_not_its_list(firm, pki, tmp_path,
                                                                         settings):
    forged = tmp_path / "forged.crl"
    forged.write_bytes(revocation_list(pki["ca"], key=ec.generate_private_key(ec.SECP256R1())))
    settings.BAOMI_FORM_CRLS = [str(forged)]
    terms, signed = _signed(firm, pki)
    _refused_as(firm, terms, signed, "form_revocation_unknown")
    _publish(pki)  # the genuine one beside it decides
    settings.BAOMI_FORM_CRLS = [str(forged), str(pki["crl"])]
    assert _grant(firm, terms, signed).form_signer_trusted


def test_a_list_issued_in_the_future_is_not_yet_current(firm, pki):
    _publish(pki, issued=datetime.now(UTC) + timedelta(hours=1))
    _refused_as(firm, *_signed(firm, pki), "form_revocation_stale")


@pytest.mark.parametrize(("reason", "code"), [
    (x509.ReasonFlags.certificate_hold, "form_signer_revoked"),
    (x509.ReasonFlags.key_compromise, "form_signer_revoked"),
    (x509.ReasonFlags.remove_from_crl, None),
])
def test_reasons(firm, pki, reason, code):
    _publish(pki, pki["signer"], reason=reason)
    terms, signed = _signed(firm, pki)
    if code is None:
        assert _grant(firm, terms, signed).form_signer_trusted
    else:
        _refused_as(firm, terms, signed, code)


def test_a_list_in_der_is_read_as_well(firm, pki):
    pki["crl"].write_bytes(revocation_list(pki["ca"], (pki["signer"],), der=True))
    _refused_as(firm, *_signed(firm, pki), "form_signer_revoked")


def test_a_list_without_a_next_update_is_never_current():
    from types import SimpleNamespace

    from baomi.access.formsig import _current

    now = datetime.now(UTC)
    assert not _current(SimpleNamespace(next_update_utc=None,
                                        last_update_utc=now - timedelta(days=1)), now)
    assert _current(SimpleNamespace(next_update_utc=now + timedelta(days=1),
                                    last_update_utc=now - timedelta(days=1)), now)


def test_a_revoked_intermediate_ca_revokes_what_it_issued(firm, pki, tmp_path, settings):
    sub = identity("示例电子认证中心 二级", issuer=pki["ca"], ca=True, crl_url=URL)
    signer = identity("恒信贸易有限公司", issuer=sub, uscc=firm["client"].uscc,
                      crl_url="http://crl.example.cn/sub.crl")
    _publish(pki, sub)
    sub_list = tmp_path / "sub.crl"
    sub_list.write_bytes(revocation_list(sub))
    settings.BAOMI_FORM_CRLS = [str(pki["crl"]), str(sub_list)]
    terms, form = _issue(firm)
    _refused_as(firm, terms, sign_pdf(form, signer, chain=(sub, pki["ca"])),
                "form_signer_revoked")


def _next_update_mangled(pki: dict[str, Any]) -> bytes:
    """A list whose nextUpdate's tag (UTCTime, 0x17) is made a constructed one (0x27):
    parsers raise odd exception types on it."""
    der = revocation_list(pki["ca"], der=True)
    at = der.index(b"\x17", der.index(b"\x17") + 1)  # the second time: nextUpdate
    return der[:at] + b"\x27" + der[at + 1:]


@pytest.mark.parametrize("content", [
    b"-----BEGIN X509 CRL-----\nbm90IGEgY3Js\n-----END X509 CRL-----\n", b"", b"not a list",
    "mangled",
])
def test_an_unreadable_list_refuses_every_form_and_fails_the_system_check(firm, pki, content):
    pki["crl"].write_bytes(_next_update_mangled(pki) if content == "mangled" else content)
    terms, form = _issue(firm)
    _refused_as(firm, terms, sign_pdf(form, pki["signer"], chain=(pki["ca"],)),
                "form_check_unavailable")
    assert [m.id for m in checks.form_trust_roots()] == ["baomi.E002"]
    pki["crl"].unlink()
    assert [m.id for m in checks.form_trust_roots()] == ["baomi.E002"]


def test_lists_without_trust_roots_are_not_used_and_the_check_says_so(firm, pki, settings):
    _publish(pki, pki["signer"])
    settings.BAOMI_FORM_TRUST_ROOTS = []
    assert [m.id for m in checks.form_trust_roots()] == ["baomi.W001"]
    terms, form = _issue(firm)
    # Without roots any valid signature is accepted (shown as not checked): the list
    # could not be verified along a chain, so it is not applied.
    auth = _grant(firm, terms, sign_pdf(form, pki["signer"], chain=(pki["ca"],)))
    assert not auth.form_signer_trusted
    assert ClientAuthorization.objects.count() == 1


def test_the_message_is_localized(firm, pki):
    from django.utils import translation

    from baomi.access.formsig import MESSAGES

    with translation.override("zh-hans"):
        assert "吊销" in str(MESSAGES["form_signer_revoked"])
        assert "过期" in str(MESSAGES["form_revocation_stale"])
        assert "未配置" in str(MESSAGES["form_revocation_unknown"])
    with translation.override("en"):
        assert "revoked" in str(MESSAGES["form_signer_revoked"])


# --- Renewal reminders ----------------------------------------------------------------


def test_compliance_hears_of_a_list_due_for_renewal_once(firm, pki):
    from baomi.access import services
    from baomi.access.models import Notification
    from baomi.core import scheduler

    _publish(pki, days=1)  # next update within REVOCATION_LIST_NOTICE
    assert "form_revocation_lists_check" in {j.name for j in scheduler.jobs()}
    scheduler._form_revocation_lists_check()
    sent = Notification.objects.filter(kind="revocation_list_due")
    assert [n.user for n in sent] == [firm["compliance"]]
    assert sent[0].params["issuer"].endswith("示例电子认证中心")
    assert services.revocation_lists_check() == 1
    assert sent.count() == 1  # not again for the same list
    from conftest import verified_client

    body = verified_client(firm["compliance"]).get("/access/").content.decode()
    assert "吊销列表" in body and "示例电子认证中心" in body


def test_no_reminder_for_a_current_list_or_without_lists(firm, pki, settings):
    from baomi.access import services
    from baomi.access.models import Notification

    _publish(pki, days=7)
    assert services.revocation_lists_check() == 0
    settings.BAOMI_FORM_CRLS = []
    assert services.revocation_lists_check() == 0
    pki["crl"].write_bytes(b"not a list")
    settings.BAOMI_FORM_CRLS = [str(pki["crl"])]
    assert services.revocation_lists_check() == 0  # the system check reports it
    assert not Notification.objects.filter(kind="revocation_list_due").exists()


def test_an_out_of_date_list_is_reported_too(firm, pki):
    from baomi.access import services

    _publish(pki, issued=datetime.now(UTC) - timedelta(days=10), days=3)
    assert services.revocation_lists_check() == 1


def test_a_list_file_is_parsed_once_per_content(firm, pki):
    import os

    from baomi.access.formsig import _read_lists

    _publish(pki)
    first = _read_lists(str(pki["crl"]))
    assert _read_lists(str(pki["crl"])) is first  # unchanged file: not parsed again
    stat = pki["crl"].stat()
    _publish(pki, pki["signer"])
    # Even written back with the old modification time: the content decides.
    os.utime(pki["crl"], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = _read_lists(str(pki["crl"]))
    assert again is not first and len(list(again[0].crl)) == 1


@pytest.mark.parametrize("kind", ["root", "list"])
def test_every_single_byte_corruption_of_a_file_is_read_or_refused_cleanly(pki, settings,
                                                                         kind, tmp_path):
    """Each byte of a root certificate's or a list's DER inverted in turn: the file is
    either still read, or refused as `form_check_unavailable`, never another error."""
    from cryptography.hazmat.primitives import serialization

    from baomi.access import formsig

    if kind == "root":
        good = pki["ca"].cert.public_bytes(serialization.Encoding.DER)
        read = formsig.trust_roots
    else:
        good = revocation_list(pki["ca"], (pki["signer"],), der=True)
        read = formsig.revocation_lists
    path = tmp_path / f"mutated.{kind}"
    if kind == "root":
        settings.BAOMI_FORM_TRUST_ROOTS = [str(path)]
    else:
        settings.BAOMI_FORM_CRLS = [str(path)]
    codes = []
    for at in range(len(good)):
        path.write_bytes(good[:at] + bytes([good[at] ^ 0xFF]) + good[at + 1:])
        try:
            read()
        except formsig.FormRefused as exc:  # any other exception fails the test
            codes.append(exc.code)
    assert set(codes) == {"form_check_unavailable"} and len(codes) > len(good) // 4


# --- Lists that cover part of what their CA issued ------------------------------------


def _idp(*, url: str | None = None, ca_only: bool = False, user_only: bool = False,
         reasons: frozenset[Any] | None = None) -> x509.IssuingDistributionPoint:
    return x509.IssuingDistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)] if url else None, relative_name=None,
        only_contains_user_certs=user_only, only_contains_ca_certs=ca_only,
        only_some_reasons=reasons, indirect_crl=False, only_contains_attribute_certs=False)


def test_a_partition_of_the_cas_list_covers_only_its_own_certificates(firm, pki):
    other_part = _idp(url="http://crl.example.cn/part2.crl")
    pki["crl"].write_bytes(revocation_list(pki["ca"], idp=other_part))
    terms, signed = _signed(firm, pki)
    _refused_as(firm, terms, signed, "form_revocation_unknown")
    # The signer's own partition (its distribution point) covers it.
    pki["crl"].write_bytes(revocation_list(pki["ca"], idp=_idp(url=URL)))
    assert _grant(firm, terms, signed).form_signer_trusted


@pytest.mark.parametrize("idp", [
    _idp(ca_only=True),
    _idp(reasons=frozenset({x509.ReasonFlags.key_compromise})),
], ids=["ca-certificates-only", "some-reasons-only"])
def test_a_list_limited_otherwise_does_not_cover_the_signer(firm, pki, idp):
    pki["crl"].write_bytes(revocation_list(pki["ca"], idp=idp))
    _refused_as(firm, *_signed(firm, pki), "form_revocation_unknown")


def test_an_end_entity_only_list_does_not_cover_an_intermediate(firm, pki, tmp_path, settings):
    sub = identity("示例电子认证中心 二级", issuer=pki["ca"], ca=True)
    signer = identity("恒信贸易有限公司", issuer=sub, uscc=firm["client"].uscc)
    pki["crl"].write_bytes(revocation_list(pki["ca"], idp=_idp(user_only=True)))
    sub_list = tmp_path / "sub.crl"
    sub_list.write_bytes(revocation_list(sub))
    settings.BAOMI_FORM_CRLS = [str(pki["crl"]), str(sub_list)]
    _refused_as(firm, *_signed(firm, pki, signer, (sub, pki["ca"])),
                "form_revocation_unknown")


def test_a_delta_list_alone_covers_nothing(firm, pki):
    pki["crl"].write_bytes(revocation_list(pki["ca"], delta_of=1))
    _refused_as(firm, *_signed(firm, pki), "form_revocation_unknown")


def test_a_stale_delta_beside_a_current_base_is_stale(firm, pki, tmp_path, settings):
    _publish(pki)
    delta = tmp_path / "delta.crl"
    delta.write_bytes(revocation_list(pki["ca"], delta_of=1,
                                      issued=datetime.now(UTC) - timedelta(days=10), days=3))
    settings.BAOMI_FORM_CRLS = [str(pki["crl"]), str(delta)]
    _refused_as(firm, *_signed(firm, pki), "form_revocation_stale")


def test_an_intermediate_listed_as_a_trust_root_is_not_a_way_around_its_list(
        firm, pki, tmp_path, settings):
    """A CA's bundle (root and intermediate) given as trust roots: pyHanko ends the path
    at the intermediate, whose own revocation would go unchecked."""
    sub = identity("示例电子认证中心 二级", issuer=pki["ca"], ca=True)
    signer = identity("恒信贸易有限公司", issuer=sub, uscc=firm["client"].uscc)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pki["ca"].pem() + sub.pem())
    settings.BAOMI_FORM_TRUST_ROOTS = [str(bundle)]
    _publish(pki, sub)
    sub_list = tmp_path / "sub.crl"
    sub_list.write_bytes(revocation_list(sub))
    settings.BAOMI_FORM_CRLS = [str(pki["crl"]), str(sub_list)]
    assert [m.id for m in checks.form_trust_roots()] == ["baomi.W002"]
    terms, signed = _signed(firm, pki, signer, (sub, pki["ca"]))
    with pytest.raises(ValidationFailed) as info:
        _grant(firm, terms, signed)
    assert info.value.code in {"form_signer_revoked", "form_revocation_unknown"}


def test_every_signers_chain_is_checked(firm, pki):
    second = identity("张三", issuer=pki["ca"], crl_url=URL)
    _publish(pki, second)
    terms, form = _issue(firm)
    both = sign_pdf(sign_pdf(form, pki["signer"], field="公司", chain=(pki["ca"],)),
                    second, field="法定代表人", chain=(pki["ca"],))
    _refused_as(firm, terms, both, "form_signer_revoked")
