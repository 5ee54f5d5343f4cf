"""A client authorization recorded from an electronically signed form, in a real browser
(Playwright driving Debian's Chromium against a live server): the manager downloads the
form for the terms, the client signs it (a PAdES signature with a visible e-seal in the
form's box), the manager uploads it into the vault and records the authorization; the
form as downloaded, unsigned, is refused on the page. Screenshots go to
$BAOMI_TEST_ARTIFACTS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from baomi.access.exports import SIGNATURE_FIELD
from baomi.access.models import ClientAuthorization, PartnerOrganisation
from baomi.accounts.models import Level, Role
from baomi.testing.pdfsign import identity, sign_pdf
from baomi.vault.models import Document
from tests.browser import ARTIFACTS, no_horizontal_scroll, shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _terms(page, org_id: int, times: dict[str, str] | None = None) -> dict[str, str]:
    """Open the grant form and enter the terms; the period as given, else as offered."""
    details = page.locator("#authorizations details")
    if not details.evaluate("d => d.open"):
        page.click("#authorizations details > summary")
    page.select_option("#go", str(org_id))
    page.check("#authorizations input[name=levels][value=internal]")
    if times:
        page.fill("#avf", times["from"])
        page.fill("#avt", times["to"])
    return {"from": page.input_value("#avf"), "to": page.input_value("#avt")}


def _upload(page, base: str, client_id: int, path: Path, title: str) -> Document:
    page.goto(f"{base}/vault/clients/{client_id}/upload/")
    page.set_input_files("input[name=file]", str(path))
    page.fill("#id_title", title)
    page.select_option("#id_level", "confidential")
    page.click("form[data-vault-upload] button[type=submit]")
    page.wait_for_url("**/documents/*/")  # the document, or its classification step
    return Document.objects.get(title=title)


@pytest.fixture
def firm(make_user, make_client, enrol_totp) -> dict[str, Any]:
    manager = make_user("manager", role=Role.MANAGER, department="记账一部",
                        clearance=Level.SECRET, display_name="张经理")
    client = make_client(manager, name="恒信贸易有限公司")
    org = PartnerOrganisation.objects.create(name="华信税务师事务所")
    partner = make_user("partner1", role=Role.PARTNER, clearance=Level.CONFIDENTIAL)
    partner.partner_org = org
    partner.save()
    return {"manager": manager, "device": enrol_totp(manager), "client": client, "org": org}


def test_a_signed_form_recorded_in_a_browser(page, live_server, firm, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    manager, device, client, org = firm["manager"], firm["device"], firm["client"], firm["org"]
    base = live_server.url
    access = f"{base}/access/clients/{client.pk}/"

    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, base, manager.username, device)
    page.goto(access)
    times = _terms(page, org.pk)
    with page.expect_download() as info:
        page.click("#authorizations button[name=form_only]")
    issued = Path(info.value.path()).read_bytes()
    assert issued.startswith(b"%PDF")

    # The form as downloaded is refused: nobody signed it.
    unsigned = tmp_path / "授权书.pdf"
    unsigned.write_bytes(issued)
    doc = _upload(page, base, client.pk, unsigned, "授权书（未签）")
    page.goto(access)
    _terms(page, org.pk, times)
    page.select_option("#fd", str(doc.pk))
    page.click("#authorizations button.btn-primary")
    page.wait_for_selector(".alert-error")
    assert "没有电子签名" in page.inner_text(".alert-error")
    assert not ClientAuthorization.objects.exists()

    # The client signs it, its e-seal visible in the form's box; recorded.
    signer = identity("恒信贸易有限公司")
    signed = tmp_path / "授权书（已签）.pdf"
    signed.write_bytes(sign_pdf(issued, signer, field=SIGNATURE_FIELD))
    doc = _upload(page, base, client.pk, signed, "授权书（已签）")
    page.goto(access)
    _terms(page, org.pk, times)
    page.select_option("#fd", str(doc.pk))
    page.click("#authorizations button.btn-primary")
    page.wait_for_selector(".alert-success")
    auth = ClientAuthorization.objects.get()
    assert auth.form_document == doc and auth.form_signer_sha256 == signer.sha256
    row = page.locator("#authorizations tbody tr").first
    assert signer.sha256[:16] in row.inner_text()
    assert "未对照受信任证书机构名单核验" in row.inner_text()
    # Assignment offers only whom an assignment accepts: not the partner.
    assert page.locator('#assignments select[name=user] option:has-text("partner1")').count() == 0
    shot(page, "authorization-signed-form-1280.png")

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    no_horizontal_scroll(page)
    shot(page, "authorization-signed-form-390.png")
