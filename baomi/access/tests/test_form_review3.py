"""Third security review of the signed authorization form check (`formsig`, F07): updates
that pypdf (the comparison) reads otherwise than viewers or pyHanko do. A reused object
number with a new generation, an xref entry whose header says another generation, an
offset a viewer repairs, a freed content stream, an object listed twice in one table or
held twice in an object stream, a reference to another generation that pypdf resolves by
searching the file, a startxref after the last %%EOF: pypdf read the issued terms, while
Chromium (PDFium), pdf.js, Poppler or MuPDF showed other terms or a blank page. Each of
these 8 was accepted on the version the review read (and 2 harmless look-alikes: a
duplicate the xref does not use, a comment after %%EOF)."""

from __future__ import annotations

import io
import re
import time
from typing import Any

import pytest

from baomi.access import exports, formsig
from baomi.access.tests.test_form_review import _outcome
from baomi.access.tests.test_form_signature import _box, _grant, _issue, _refused_as
from baomi.access.tests.test_services import firm
from baomi.testing.pdfsign import identity, pdf_signer, sign_pdf

pytestmark = pytest.mark.django_db
__all__ = ["firm"]

FAKE = b"BT /FX 28 Tf 40 500 Td (VALID TO 2025-01-31 ONLY, LEVEL PUBLIC) Tj ET"
FONT = b"<< /Font << /FX << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >>"
NEW = 900  # object numbers from here on are new (the issued form has far fewer)


# ---------------------------------------------------------------- helpers


def _stream(content: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"


def _startxref(data: bytes) -> int:
    return int(re.findall(rb"startxref\s+(\d+)", data)[-1])


def _page(form: bytes) -> tuple[int, bytes, bytes]:
    """The issued first page: its number, its dictionary as issued, and the same
    dictionary drawing other terms (content `NEW`, a font of its own), its box kept."""
    from pypdf import PdfReader

    number = PdfReader(io.BytesIO(form)).pages[0].indirect_reference.idnum
    m = re.search(rb"(?<![0-9])%d 0 obj\s*(<<.*?>>)\s*endobj" % number, form, re.S)
    assert m
    issued = m[1]
    fake = re.sub(rb"/Contents \d+ 0 R", b"/Contents %d 0 R" % NEW, issued)
    fake = re.sub(rb"/Resources \d+ 0 R", b"/Resources " + FONT, fake)
    assert fake != issued and b"/Annots" in fake  # the signature box stays on the page
    return number, issued, fake


def _trailer(data: bytes, size: int = 0) -> bytes:
    """The entries a new trailer keeps from `data`'s last one: /Root, /Info, /Size."""
    from pypdf import PdfReader

    last = PdfReader(io.BytesIO(data)).trailer
    return b"/Size %d /Root %d 0 R /Info %d 0 R" % (
        max(size, int(last["/Size"])), last.raw_get("/Root").idnum,
        last.raw_get("/Info").idnum)


def _update(data: bytes, objects: list[tuple[int, int, bytes]], *,
            entries: list[tuple[int, int, int, bytes]] | None = None,
            trailer: bytes = b"") -> bytes:
    """`data` with an incremental update written by hand: `objects` (number, generation,
    dictionary) in order, and a classic xref table listing `entries` (number, offset,
    generation, b"n" or b"f"; by default, each object where it was first written)."""
    out = bytearray(data)
    where: dict[tuple[int, int], int] = {}
    for number, generation, body in objects:
        where.setdefault((number, generation), len(out))
        out += b"%d %d obj\n" % (number, generation) + body + b"\nendobj\n"
    if entries is None:
        entries = [(n, at, g, b"n") for (n, g), at in where.items()]
    xref = len(out)
    out += b"xref\n0 1\n0000000000 65535 f \n"
    for number, at, generation, kind in entries:
        out += b"%d 1\n%010d %05d %s \n" % (number, at, generation, kind)
    size = max(e[0] + 1 for e in entries) if entries else 0
    out += b"trailer\n<< %s /Prev %d %s>>\nstartxref\n%d\n%%%%EOF\n" % (
        _trailer(data, size), _startxref(data), trailer, xref)
    return bytes(out)


def _client_signs(data: bytes, *, strict: bool = True) -> bytes:
    """The client signs what its viewer shows, in the form's box."""
    return sign_pdf(data, identity("恒信贸易有限公司"), field=exports.SIGNATURE_FIELD,
                    strict=strict)


def _with_other_terms(form: bytes) -> tuple[int, bytes, bytes]:
    """The page's number, a dictionary of it drawing other terms, and their content."""
    number, _issued, fake = _page(form)
    return number, fake, _stream(FAKE)


# ------------------------------------- 1. hybrid files (a table and an /XRefStm)


def _hybrid(form: bytes, *, table_lists_page: bool) -> bytes:
    """An update with a classic table and an /XRefStm: the table lists the page as
    issued (or not at all), the xref stream lists a page with other terms. PDFium merges
    the stream over the table; pdf.js, pypdf and pyHanko take the table first."""
    number, issued, fake = _page(form)
    out = bytearray(form)
    copy = len(out)
    out += b"%d 0 obj\n" % number + issued + b"\nendobj\n"
    content = len(out)
    out += b"%d 0 obj\n" % NEW + _stream(FAKE) + b"\nendobj\n"
    other = len(out)
    out += b"%d 0 obj\n" % number + fake + b"\nendobj\n"
    row = bytes([1]) + other.to_bytes(4, "big") + bytes([0])
    stm = len(out)
    out += (b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 1] /Index [%d 1] /Length %d >>\n"
            b"stream\n" % (NEW + 1, NEW + 2, number, len(row)) + row + b"\nendstream\nendobj\n")
    xref = len(out)
    out += b"xref\n0 1\n0000000000 65535 f \n"
    if table_lists_page:
        out += b"%d 1\n%010d 00000 n \n" % (number, copy)
    out += b"%d 1\n%010d 00000 n \n" % (NEW, content)
    out += b"trailer\n<< %s /Prev %d /XRefStm %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        _trailer(form, NEW + 2), _startxref(form), stm, xref)
    return bytes(out)


@pytest.mark.parametrize("table_lists_page", [True, False], ids=["disagree", "stream-only"])
def test_hybrid_update_whose_xref_stream_redefines_the_page_is_refused(firm, table_lists_page):
    from pyhanko.pdf_utils.reader import PdfFileReader

    terms, form = _issue(firm)
    changed = _hybrid(form, table_lists_page=table_lists_page)
    # pyHanko, strict, does not sign a hybrid file; a lenient signer (Acrobat) does.
    signed = _client_signs(changed, strict=False)
    # pyHanko does not validate signatures in hybrid files...
    _refused_as(firm, terms, signed, "form_signature_invalid")
    # ...and the comparison refuses them too, were that policy ever relaxed.
    reader = PdfFileReader(io.BytesIO(signed))
    with pytest.raises(formsig.FormRefused) as info:
        formsig._updates_plain(signed, reader, 0, len(form))
    assert info.value.code == "form_tampered"


# ------------------------------------------- 2. an object defined twice in an update


def _twice_in_one_update(form: bytes, how: str) -> bytes:
    number, issued, fake = _page(form)
    if how == "listed-first":
        # The table lists the issued copy; a viewer repairing the file takes the last.
        return _update(form, [(number, 0, issued), (NEW, 0, _stream(FAKE)),
                              (number, 0, fake)])
    if how == "table-twice":
        # The table lists the page twice: pypdf takes the first line (the issued copy),
        # pyHanko and PDFium the last (other terms).
        out = _update(form, [(number, 0, issued), (NEW, 0, _stream(FAKE)),
                             (number, 0, fake)])
        second = out.rindex(b"%d 0 obj" % number)
        end = out.rindex(b"trailer\n")
        return out[:end] + b"%d 1\n%010d 00000 n \n" % (number, second) + out[end:]
    # An object stream holding the page twice, the xref pointing at the second (other
    # terms: PDFium, pdf.js, Poppler); pypdf reads the first (as issued).
    out = bytearray(form)
    content = len(out)
    out += b"%d 0 obj\n" % NEW + _stream(FAKE) + b"\nendobj\n"
    head = (b"%d 0 %d %d" % (number, number, len(issued) + 1)).ljust(24)
    body = head + issued + b"\n" + fake
    objstm = len(out)
    out += (b"%d 0 obj\n<< /Type /ObjStm /N 2 /First %d /Length %d >>\nstream\n"
            % (NEW + 1, len(head), len(body)) + body + b"\nendstream\nendobj\n")
    stm = len(out)
    rows = b"".join(bytes([t]) + a.to_bytes(4, "big") + bytes([b]) for t, a, b in (
        (2, NEW + 1, 1), (1, content, 0), (1, objstm, 0), (1, stm, 0)))
    out += (b"%d 0 obj\n<< /Type /XRef %s /W [1 4 1] /Index [%d 1 %d 3] /Prev %d /Length %d"
            b" >>\nstream\n" % (NEW + 2, _trailer(form, NEW + 3), number, NEW,
                                 _startxref(form), len(rows))
            + rows + b"\nendstream\nendobj\n")
    out += b"startxref\n%d\n%%%%EOF\n" % stm
    return bytes(out)


@pytest.mark.parametrize("how", ["listed-first", "table-twice", "object-stream"])
def test_an_object_defined_twice_in_one_update_is_refused(firm, how):
    terms, form = _issue(firm)
    _refused_as(firm, terms, _client_signs(_twice_in_one_update(form, how)), "form_tampered")


# --------------------------------- 3. where pypdf's xref reading differs from viewers'


def _reader_differs(form: bytes, how: str) -> bytes:
    number, fake, content = _with_other_terms(form)
    if how == "generation-bumped":
        # The page freed, then redefined as generation 1 (pyHanko accepts the sequence).
        # PDFium and MuPDF ignore a reference's generation and show the new page; pypdf
        # resolves "N 0 R" to the issued one.
        freed = _update(form, [], entries=[(number, 0, 1, b"f")])
        return _update(freed, [(NEW, 0, content), (number, 1, fake)])
    if how == "header-generation":
        # The table says generation 0, the header at the offset 1: PDFium and MuPDF
        # show it, pypdf searches the file for "N 0 obj" and finds the issued page.
        out = _update(form, [(NEW, 0, content), (number, 1, fake)])
        return out.replace(b" 00001 n \n", b" 00000 n \n")
    if how == "offset-off":
        # The entry points a few bytes early: pdf.js, Poppler and MuPDF rebuild the
        # xref (the last definition wins), pypdf searches for the first.
        out = _update(form, [(NEW, 0, content), (number, 0, fake)])
        at = out.rindex(b"%d 0 obj" % number)
        return out.replace(b"%010d 00000 n" % at, b"%010d 00000 n" % (at - 9))
    # "content-freed": viewers (pdf.js, MuPDF) show a blank page, pypdf the old content.
    from pypdf import PdfReader

    stream = PdfReader(io.BytesIO(form)).pages[0].raw_get("/Contents").idnum
    return _update(form, [], entries=[(stream, 0, 1, b"f")])


_HOW = ["generation-bumped", "header-generation", "offset-off", "content-freed"]


@pytest.mark.parametrize("how", _HOW)
def test_an_update_pypdf_reads_otherwise_than_viewers_is_refused(firm, how):
    terms, form = _issue(firm)
    _refused_as(firm, terms, _client_signs(_reader_differs(form, how)), "form_tampered")


@pytest.mark.parametrize("how", _HOW)
def test_the_same_updates_after_signing_are_refused(firm, how):
    terms, form = _issue(firm)
    signed = _client_signs(form)
    changed = _reader_differs(signed, how)
    assert changed.startswith(signed)
    _refused_as(firm, terms, changed, "form_signature_invalid")


def _annots_with_note(firm: dict, generation: int) -> tuple[Any, bytes, bytes]:
    """The issued form and a copy whose page's /Annots is an indirect array ("N
    `generation` R") holding the signature box and a free-text note over the terms:
    (terms, form, copy)."""
    terms, form = _issue(firm)
    number, issued, _fake = _page(form)
    box = re.search(rb"/Annots \[ (\d+ 0 R) \]", issued)
    assert box
    note = (b"<< /Type /Annot /Subtype /FreeText /Rect [ 0 0 841 595 ] /F 4 "
            b"/Contents (VALID TO 2025-01-31 ONLY) /DA (/Helv 24 Tf 0 g) >>")
    page = issued.replace(box[0], b"/Annots %d %d R" % (NEW + 1, generation))
    return terms, form, _update(form, [(NEW, 0, note),
                                       (NEW + 1, 0, b"[ %s %d 0 R ]" % (box[1], NEW)),
                                       (number, 0, page)])


def test_a_reference_with_another_generation_is_refused(firm):
    """/Annots "N 1 R" where only N 0 exists: PDFium and MuPDF take object N (here a
    free-text annotation over the terms), pypdf and pyHanko read null."""
    terms, _form, changed = _annots_with_note(firm, 1)
    _refused_as(firm, terms, _client_signs(changed), "form_tampered")


def _body(form: bytes, number: int) -> bytes:
    m = re.search(rb"(?<![0-9])%d 0 obj\s*(.*?)\s*endobj" % number, form, re.S)
    assert m
    return m[1]


def test_a_reference_to_a_copy_hidden_from_the_xref_is_refused(firm):
    """The page's /Contents and /Resources as "N 1 R": the xref lists N 0 (other terms,
    which PDFium and MuPDF show, ignoring the generation); pypdf searches the file for
    "N 1 obj" and finds copies of the issued ones, written between the objects with
    vertical tabs for spaces."""
    from pypdf import PdfReader
    from pypdf.generic import IndirectObject

    terms, form = _issue(firm)
    number, issued, _fake = _page(form)
    page0 = PdfReader(io.BytesIO(form)).pages[0]
    contents, resources = (page0.raw_get(k).idnum for k in ("/Contents", "/Resources"))
    page = re.sub(rb"/Contents \d+ 0 R", b"/Contents %d 1 R" % NEW, issued)
    page = re.sub(rb"/Resources \d+ 0 R", b"/Resources %d 1 R" % (NEW + 1), page)
    out = _update(form, [(NEW, 0, _stream(FAKE)), (NEW + 1, 0, FONT), (number, 0, page)])
    xref = out.rindex(b"\nxref\n") + 1
    hidden = b"".join(b"\n\v%d\v1\vobj\n%s\nendobj\n" % (n, _body(form, old))
                      for n, old in ((NEW, contents), (NEW + 1, resources)))
    out = out[:xref] + hidden + out[xref:out.rindex(b"startxref")]
    out += b"startxref\n%d\n%%%%EOF\n" % (xref + len(hidden))
    signed = _client_signs(out)
    _refused_as(firm, terms, signed, "form_tampered")
    # The comparison's reader follows no reference to another generation.
    with pytest.raises(formsig.FormRefused):
        formsig._listed_only(signed, set()).get_object(IndirectObject(NEW, 1, None))


def test_an_annotation_in_an_indirect_annots_array_is_refused(firm):
    terms, form, changed = _annots_with_note(firm, 0)
    _refused_as(firm, terms, _client_signs(changed), "form_tampered")
    number, issued, _fake = _page(form)
    box = re.search(rb"/Annots \[ (\d+ 0 R) \]", issued)
    assert box
    page = issued.replace(box[0], b"/Annots %d 0 R" % (NEW + 1))
    # The same array without the note is only another way to write the issued page.
    plain = _update(form, [(NEW + 1, 0, b"[ %s ]" % box[1]), (number, 0, page)])
    assert _outcome(_client_signs(plain), _issued_row()) is None


def _issued_row() -> Any:
    from baomi.access.models import AuthorizationForm

    return AuthorizationForm.objects.get()


# ---------------------------------------------------- 4. trailers, /Prev, startxref


def test_a_startxref_after_the_last_eof_is_refused(firm):
    """An update with other terms after the signed revision, its startxref without
    %%EOF: pyHanko and pypdf read the signed revision, pdf.js, Poppler and MuPDF the
    last startxref (the other terms)."""
    terms, form = _issue(firm)
    signed = _client_signs(form)
    number, fake, content = _with_other_terms(form)
    tail = _update(signed, [(NEW, 0, content), (number, 0, fake)])[len(signed):]
    assert tail.rstrip().endswith(b"%%EOF")
    _refused_as(firm, terms, signed + tail.rstrip()[:-len(b"%%EOF")], "form_tampered")


def test_bytes_after_the_last_eof_are_refused(firm):
    terms, form = _issue(firm)
    signed = _client_signs(form)
    _refused_as(firm, terms, signed + b"% a comment, less than 1 KiB\n", "form_tampered")
    # Line ends and NUL padding after %%EOF are fine.
    assert _outcome(signed + b"\r\n\0\0", _issued_row()) is None


def test_prev_or_startxref_pointing_elsewhere(firm):
    terms, form = _issue(firm)
    signed = _client_signs(form)
    # /Prev into the middle of the issued bytes.
    body = signed[len(form):]
    prev = re.search(rb"/Prev (\d+)", body)
    assert prev
    earlier = (b"/Prev %d" % (int(prev[1]) - 7)).ljust(len(prev[0]))
    _refused_as(firm, terms, form + body.replace(prev[0], earlier), "form_tampered")
    # The last startxref pointing at the issued xref: the signature is not read at all.
    at = signed.rindex(b"startxref")
    back = signed[:at] + b"startxref\n%d\n%%%%EOF\n" % _startxref(form)
    _refused_as(firm, terms, back, "form_unsigned")


def test_encrypt_added_in_an_update_is_refused(firm):
    terms, form = _issue(firm)
    encrypt = (b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P -4 >>"
               % (b"00" * 32, b"00" * 32))
    ident = b"/ID [<00112233445566778899aabbccddeeff> <00112233445566778899aabbccddeeff>] "
    before = _update(form, [(NEW, 0, encrypt)], trailer=b"/Encrypt %d 0 R " % NEW + ident)
    _refused_as(firm, terms, before, "form_tampered")
    signed = _client_signs(form)
    after = _update(signed, [(NEW, 0, encrypt)], trailer=b"/Encrypt %d 0 R " % NEW + ident)
    _refused_as(firm, terms, after, "form_tampered")  # pyHanko cannot read it


# ---------------------------------------------------------------- 5. bounds, legit


def test_header_scan_of_a_large_odd_update_is_prompt(firm):
    """8 MB of digits and whitespace in an unreferenced stream (no object header):
    the scan for stray headers stays linear."""
    _terms, form = _issue(firm)
    junk = b"1 " * 2_000_000 + b"1" + b" " * 2_000_000 + b"2\n0\nob " * 300_000
    data = _client_signs(_update(form, [(NEW, 0, _stream(junk))]))
    assert len(data) < 10_000_000
    started = time.monotonic()
    assert _outcome(data, _issued_row()) is None  # an object nothing shows is harmless
    assert time.monotonic() - started < 20


def test_visible_signature_in_the_box_and_a_counter_signature_are_accepted(firm):
    """The client's seal drawn in the form's box (its own stamp text), then a second,
    invisible signature (the legal representative): accepted, the client recorded."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.stamp import TextStampStyle

    terms, form = _issue(firm)
    client = identity("恒信贸易有限公司")
    out = signers.PdfSigner(
        signers.PdfSignatureMetadata(field_name=exports.SIGNATURE_FIELD),
        signer=pdf_signer(client),
        stamp_style=TextStampStyle(stamp_text="恒信贸易有限公司 %(ts)s"),
    ).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(form)))
    signed = out.getvalue()
    assert _box(signed) == _box(form)
    both = sign_pdf(signed, identity("张三"), field="法定代表人")
    assert _grant(firm, terms, both).form_signer_sha256 == client.sha256
