"""Real HTTP against a live server: an upload aborted mid-stream leaves nothing behind;
a browser uploads through the file input and downloads the document again."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from baomi.accounts import services as account_services
from baomi.vault.models import Document

ARTIFACTS = Path(os.environ.get("BAOMI_TEST_ARTIFACTS", "test-artifacts"))


@pytest.mark.django_db(transaction=True)
def test_upload_aborted_mid_stream_leaves_no_document_and_no_blob(live_server, firm, blob_dir):
    token = account_services.token_create(user=firm["acct"]).plaintext
    url = urlparse(live_server.url)
    boundary = "----baomi-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="level"\r\n\r\ninternal\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="category"\r\n\r\nother\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    total = len(head) + 10 * 1024 * 1024 + 100
    request = (
        f"POST /api/v1/clients/{firm['client'].pk}/documents HTTP/1.1\r\n"
        f"Host: {url.hostname}:{url.port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {total}\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(request + head)
        chunk = os.urandom(256 * 1024)
        for _ in range(12):  # 3 MiB of the promised 10
            sock.sendall(chunk)
        deadline = time.time() + 10
        while time.time() < deadline and not list(blob_dir.rglob("*.part")):
            time.sleep(0.05)
        assert list(blob_dir.rglob("*.part")), "the upload was being sealed into a temp blob"
        sock.shutdown(socket.SHUT_RDWR)
    deadline = time.time() + 15
    while time.time() < deadline and [p for p in blob_dir.rglob("*") if p.is_file()]:
        time.sleep(0.1)
    assert [p for p in blob_dir.rglob("*") if p.is_file()] == []
    assert not Document.objects.exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_upload_by_file_input_and_download(page, live_server, firm, tmp_path):
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian's chromium is not installed")
    from conftest import PASSWORD

    ARTIFACTS.mkdir(exist_ok=True)
    source = tmp_path / "十月凭证.csv"
    source.write_text("科目,金额\n现金,1000\n", encoding="utf-8")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/accounts/login/")
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from conftest import totp_now

    # acct1 is cleared for 机密, so signs in with a second factor.
    device = TOTPDevice.objects.create(user=firm["acct"], name="t", confirmed=True)
    page.fill("input[name=username]", "acct1")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.fill("input[name=otp_token]", totp_now(device))
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/clients/{firm['client'].pk}/")
    page.click("text=上传文件")
    page.set_input_files("input[type=file]", str(source))
    page.fill("input[name=title]", "十月凭证")
    page.select_option("select[name=level]", "confidential")
    page.select_option("select[name=category]", "financial")
    page.screenshot(path=str(ARTIFACTS / "vault-upload-1280.png"), full_page=True)
    page.click("button:has-text('上传')")
    # The upload leads to the scanner's suggestion; the person confirms or overrides it.
    page.wait_for_url("**/classification/documents/*/")
    assert page.locator("#suggestion").is_visible()
    page.select_option("select[name=level]", "confidential")
    page.select_option("select[name=category]", "financial")
    page.screenshot(path=str(ARTIFACTS / "classification-confirm-1280.png"), full_page=True)
    page.click("button:has-text('确认分类')")
    page.wait_for_url("**/vault/documents/*/")
    assert page.locator("h1").inner_text() == "十月凭证"
    assert page.locator(".level-confidential").first.is_visible()
    assert page.locator(".cat-financial").first.is_visible()
    page.fill("input[name=purpose]", "月度记账")
    with page.expect_download() as info:
        page.click("form[data-download-form] button[type=submit]")
    download = info.value
    saved = tmp_path / "downloaded.csv"
    download.save_as(saved)
    assert saved.read_text(encoding="utf-8") == source.read_text(encoding="utf-8")
    assert download.suggested_filename == "十月凭证.csv"
    page.screenshot(path=str(ARTIFACTS / "vault-document-1280.png"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/clients/{firm['client'].pk}/")
    page.screenshot(path=str(ARTIFACTS / "vault-client-390.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
    page.goto(f"{live_server.url}/vault/clients/{firm['client'].pk}/upload/")
    page.screenshot(path=str(ARTIFACTS / "vault-upload-390.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
