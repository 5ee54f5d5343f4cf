"""Files access governance produces: review results (XLSX, PDF) and the client
authorization form (PDF carrying its tamper-evident code in the document metadata)."""

from __future__ import annotations

import io
import re
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any

from django.utils import timezone
from django.utils.translation import gettext as _

from baomi.access.selectors import review_item_scope

if TYPE_CHECKING:
    from baomi.access.models import ReviewCampaign
    from baomi.access.services import AuthorizationTerms

FORM_KEY = "/BaomiAuthorizationCode"
# The empty signature field every form carries, bottom right of its last page, where the
# client's visible signature or seal goes (`formsig` allows visible signatures only there).
SIGNATURE_FIELD = "客户签章"
_BOX_W, _BOX_H, _BOX_MARGIN = 260.0, 150.0, 50.0
CONTENT_TYPES = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FONT = "Noto Sans CJK SC"
# Characters XML 1.0 does not allow (C0 controls but tab, newline and carriage return;
# lone surrogates; U+FFFE, U+FFFF): openpyxl refuses them (IllegalCharacterError) and a
# PDF has no use for them. Typed text (a purpose, a holder's or client's name) may carry
# them; they are dropped from every exported cell.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# A spreadsheet reads a cell starting with one of these as a formula (OWASP, "CSV
# injection"): `=HYPERLINK(...)` in a purpose would be a live link in the reviewer's file.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    """`value` without the characters XML 1.0 forbids."""
    return _NOT_XML.sub("", value)


def _rows(campaign: ReviewCampaign) -> list[list[str]]:
    out = []
    for item in campaign.items.select_related("reviewer", "decided_by").order_by("id"):
        out.append(  # noqa: PERF401  (one row built per item reads better as a loop)
            [
                _text(str(item.reviewer or "")),
                item.get_grant_kind_display(),
                _text(item.holder),
                _text(item.client_name),
                _text(item.description),
                _text(review_item_scope(item)),
                item.get_decision_display(),
                _text(str(item.decided_by or "")),
                timezone.localtime(item.decided_at).strftime("%Y-%m-%d %H:%M")
                if item.decided_at
                else "",
                _("yes") if item.flagged else "",
            ]
        )
    return out


def _headers() -> list[str]:
    return [
        _("Reviewer"),
        _("Grant"),
        _("Holder"),
        _("Client"),
        _("Details"),
        _("Scope"),
        _("Decision"),
        _("Decided by"),
        _("Decided at"),
        _("Flagged"),
    ]


def review_xlsx(campaign: ReviewCampaign) -> bytes:
    """The review result as a spreadsheet (one row per grant)."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None  # noqa: S101  (a new workbook has one sheet)
    ws.title = _("Access review")[:31]
    deadline = timezone.localtime(campaign.deadline).strftime("%Y-%m-%d %H:%M")
    for row in [[_text(campaign.name), deadline], _headers(), *_rows(campaign)]:
        ws.append(row)
        for cell in ws[ws.max_row]:
            # Every cell is text, never a formula: openpyxl makes a string starting with
            # "=" a formula, so the type is set back to string; the quote prefix keeps
            # it text when someone edits the cell in Excel or LibreOffice. The value
            # itself is unchanged, so the reviewer reads exactly what was typed.
            if isinstance(cell.value, str) and cell.value.startswith(_FORMULA_START):
                cell.data_type = "s"
                cell.quotePrefix = True
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _pdf(html: str) -> bytes:
    from weasyprint import HTML

    return bytes(HTML(string=html).write_pdf())


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'><style>"
        f"body{{font-family:'{FONT}',sans-serif;font-size:9pt}}"
        "table{border-collapse:collapse;width:100%}td,th{border:1px solid #999;padding:3px}"
        "@page{size:A4 landscape;margin:1.5cm}</style></head><body>"
        f"<h1>{escape(title)}</h1>{body}</body></html>"
    )


def review_pdf(campaign: ReviewCampaign) -> bytes:
    """The review result as a PDF (Chinese text set in Noto Sans CJK SC)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in _headers())
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in _rows(campaign)
    )
    deadline = timezone.localtime(campaign.deadline).strftime("%Y-%m-%d %H:%M")
    body = (
        f"<p>{escape(_('Deadline'))}: {deadline}</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    )
    return _pdf(_page(f"{_('Access review')}: {_text(campaign.name)}", body))


def authorization_form(
    terms: AuthorizationTerms, code: str, *, client_name: str, grantee: str,
    expires: datetime | None = None,
) -> bytes:
    """A one-page authorization form for the client to sign; `code` goes into the PDF's
    metadata and is printed, so the signed copy can be checked against the terms.
    `expires`, when given, is printed as the date to sign and return it by."""
    from pypdf import PdfReader, PdfWriter

    from baomi.access.selectors import scope_labels

    scope = terms.scope.clean()
    levels, categories = scope_labels(scope.levels, scope.categories)
    lines = [
        (_("Client"), _text(client_name)),
        (_("Authorized"), _text(grantee)),
        (_("Levels"), ", ".join(levels) or "—"),
        (_("Categories"), ", ".join(categories) or "—"),
        (_("Documents"), ", ".join(str(i) for i in scope.document_ids) or "—"),
        (_("Valid from"), timezone.localtime(terms.valid_from).strftime("%Y-%m-%d %H:%M")),
        (_("Valid to"), timezone.localtime(terms.valid_to).strftime("%Y-%m-%d %H:%M")),
    ]
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in lines)
    how = _("sign this PDF electronically with the company certificate (电子签名), in the box "
            "at the bottom right; a printed and scanned copy cannot be accepted.")
    by = (_("Please sign and return this form before %(date)s; after that it is no longer "
            "accepted.") % {"date": timezone.localtime(expires).strftime("%Y-%m-%d %H:%M")}
          if expires is not None else "")
    body = (
        f"<table>{rows}</table><p>{escape(_('Signature and company seal'))}: {escape(how)}</p>"
        + (f"<p><strong>{escape(by)}</strong></p>" if by else "")
        + f"<p style='font-size:6pt;word-break:break-all'>{escape(code)}</p>"
    )
    raw = _pdf(_page(_("Client authorization (客户授权书)"), body))
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(raw)))
    writer.add_metadata({FORM_KEY: code})
    _add_signature_field(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _lowest_text(page: Any) -> float:
    """The lowest baseline of any text on `page` (its height if it has none)."""
    lowest = [float(page.mediabox.height)]

    def seen(text: str, cm: Any, tm: Any, _font: Any, _size: Any) -> None:
        if text.strip():
            lowest.append(float(tm[5]) * float(cm[3]) + float(cm[5]))

    page.extract_text(visitor_text=seen)
    return min(lowest)


def _add_signature_field(writer: Any) -> None:
    """An empty signature field (a bordered box) bottom right of the last page, or of a
    page added for it if text reaches down there."""
    from pypdf.generic import (
        ArrayObject,
        DecodedStreamObject,
        DictionaryObject,
        FloatObject,
        NameObject,
        NumberObject,
        TextStringObject,
    )

    page = writer.pages[-1]
    width = float(page.mediabox.width)
    if _lowest_text(page) < _BOX_MARGIN + _BOX_H + 20:
        page = writer.add_blank_page(width, float(page.mediabox.height))
    x0, y0 = width - _BOX_MARGIN - _BOX_W, _BOX_MARGIN
    border = DecodedStreamObject()
    border.set_data(f"0.6 G 1 w 0.5 0.5 {_BOX_W - 1} {_BOX_H - 1} re S".encode())
    border.update({
        NameObject("/Type"): NameObject("/XObject"), NameObject("/Subtype"): NameObject("/Form"),
        NameObject("/BBox"): ArrayObject([FloatObject(v) for v in (0, 0, _BOX_W, _BOX_H)]),
    })
    widget = DictionaryObject({
        NameObject("/Type"): NameObject("/Annot"),
        NameObject("/Subtype"): NameObject("/Widget"),
        NameObject("/FT"): NameObject("/Sig"),
        NameObject("/T"): TextStringObject(SIGNATURE_FIELD),
        NameObject("/F"): NumberObject(4),  # print
        NameObject("/Rect"): ArrayObject(
            [FloatObject(v) for v in (x0, y0, x0 + _BOX_W, y0 + _BOX_H)]),
        NameObject("/P"): page.indirect_reference,
        NameObject("/AP"): DictionaryObject({NameObject("/N"): writer._add_object(border)}),
    })
    ref = writer._add_object(widget)
    page[NameObject("/Annots")] = ArrayObject([ref])
    writer._root_object[NameObject("/AcroForm")] = DictionaryObject(
        {NameObject("/Fields"): ArrayObject([ref])})


def form_token(data: bytes) -> str | None:
    """The authorization code in an uploaded form, or None if it carries none."""
    from pypdf import PdfReader

    try:
        meta: Any = PdfReader(io.BytesIO(data)).metadata
    except Exception:  # pypdf raises many types for malformed input: unreadable = no code
        return None
    if not meta:
        return None
    value = meta.get(FORM_KEY)
    return str(value) if value else None
