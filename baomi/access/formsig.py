"""Checking a client's electronically signed authorization form (客户授权书, F07).

Baomi issues the form as a PDF and registers its SHA-256 and length
(`AuthorizationForm`). The client signs it with a PDF digital signature (PAdES, as
电子营业执照 and CA-issued certificates produce), which is an incremental update: the
signed file begins with exactly the bytes that were issued. So a signed form is accepted
only if

1. it begins with the issued bytes (another PDF carrying a copied code, or the same form
   edited and saved anew, does not);
2. something was appended, and it carries at least one signature (the issued form
   uploaded straight back is unsigned);
3. every signature is intact and cryptographically valid, its certificate is in its
   validity period, and, where trust roots are configured
   (``BAOMI_FORM_TRUST_ROOTS``), it chains to one of them;
4. nothing after the issued revision changed what the form shows: pyHanko's difference
   analysis of every later revision against the issued one allows only signatures and
   form filling (an added page, changed text, or an annotation laid over the terms is
   refused).

A scanned paper form cannot be checked this way and is refused as unsigned; see
``docs/access.md``.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _

MESSAGES = {
    "form_tampered": _("The signed form does not match these terms or was altered."),
    "form_unsigned": _(
        "The form carries no electronic signature. Send the client the form as issued and "
        "upload the copy they signed digitally; a scanned paper copy cannot be checked."
    ),
    "form_signature_invalid": _(
        "The form's electronic signature is broken, expired, or the form was changed after "
        "it was signed."
    ),
    "form_signer_untrusted": _(
        "The form was signed with a certificate this firm does not trust."
    ),
}


class FormRefused(Exception):
    """Why a signed form is not accepted: `code` is one of `MESSAGES`."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code

    @property
    def message(self) -> str:
        return str(MESSAGES[self.code])


@dataclass(frozen=True)
class Signature:
    """What an accepted form shows about who signed it (no names: the certificate's
    SHA-256 identifies it; the form itself is kept sealed in the vault)."""

    signer_sha256: str
    trusted: bool
    count: int


def trust_roots() -> list[Any]:
    """The certificates (asn1crypto) in the PEM files named by BAOMI_FORM_TRUST_ROOTS."""
    from asn1crypto import pem
    from asn1crypto import x509 as ax

    roots = []
    for name in getattr(settings, "BAOMI_FORM_TRUST_ROOTS", ()):
        data = Path(name).read_bytes()
        if pem.detect(data):
            roots += [ax.Certificate.load(der) for _t, _h, der in pem.unarmor(data, True)]
        else:
            roots.append(ax.Certificate.load(data))
    return roots


def check(data: bytes, *, issued_size: int, issued_sha256: str,
          now: datetime | None = None) -> Signature:
    """Accept `data` as the signed copy of the issued form, or raise `FormRefused`."""
    if (len(data) < issued_size
            or hashlib.sha256(data[:issued_size]).hexdigest() != issued_sha256):
        raise FormRefused("form_tampered")
    if len(data) == issued_size:
        raise FormRefused("form_unsigned")
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(io.BytesIO(data))
        signatures = list(reader.embedded_signatures)
    except Exception as exc:  # pyHanko raises many types on malformed input
        raise FormRefused("form_tampered") from exc
    if not signatures:
        raise FormRefused("form_unsigned")
    _unchanged_since_issue(data, issued_size)
    roots = trust_roots()
    trusted = [_signature_valid(s, roots, now or datetime.now(UTC)) for s in signatures]
    if roots and not all(trusted):
        raise FormRefused("form_signer_untrusted")
    return Signature(signer_sha256=signatures[0].signer_cert.sha256.hex(),
                     trusted=bool(roots) and all(trusted), count=len(signatures))


def _unchanged_since_issue(data: bytes, issued_size: int) -> None:
    """The signed copy shows what was issued: the same pages with the same content,
    resources and boxes, and nothing laid over them but signature fields."""
    from pypdf import PdfReader

    try:
        issued, signed = PdfReader(io.BytesIO(data[:issued_size])), PdfReader(io.BytesIO(data))
        same = (len(issued.pages) == len(signed.pages)
                and _shown(issued) == _shown(signed)
                and all(_only_signature_fields(p) for p in signed.pages))
    except Exception as exc:  # pypdf raises many types on malformed input
        raise FormRefused("form_tampered") from exc
    if not same:
        raise FormRefused("form_tampered")


_SKIPPED = frozenset({"/Annots", "/Parent", "/P"})


def _shown(reader: Any) -> str:
    """A digest of what the document displays: every page's content, resources (fonts,
    images, forms, resolved deeply) and boxes, and the catalog's optional-content
    settings. Annotations are checked apart (`_only_signature_fields`)."""
    digest = hashlib.sha256()
    for page in reader.pages:
        for box in (page.mediabox, page.cropbox):
            digest.update(repr([float(v) for v in box]).encode())
        digest.update(str(page.rotation).encode())
        _feed(digest, page.get("/Contents"), set())
        _feed(digest, page.get("/Resources"), set())
    _feed(digest, reader.trailer["/Root"].get("/OCProperties"), set())
    return digest.hexdigest()


def _feed(digest: Any, obj: Any, seen: set[tuple[int, int]]) -> None:
    """Hash a PDF object graph by value (object numbers do not count; a cycle is cut)."""
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, StreamObject

    if isinstance(obj, IndirectObject):
        key = (obj.idnum, obj.generation)
        if key in seen:
            digest.update(b"<cycle>")
            return
        seen.add(key)
        _feed(digest, obj.get_object(), seen)
        seen.discard(key)
    elif isinstance(obj, DictionaryObject):
        digest.update(b"<<")
        for name in sorted(k for k in obj if k not in _SKIPPED):
            digest.update(name.encode())
            _feed(digest, obj.raw_get(name), seen)
        digest.update(b">>")
        if isinstance(obj, StreamObject):
            digest.update(hashlib.sha256(obj.get_data()).digest())
    elif isinstance(obj, ArrayObject):
        digest.update(b"[")
        for item in obj:
            _feed(digest, item, seen)
        digest.update(b"]")
    else:
        digest.update(repr(obj).encode())
    digest.update(b";")


def _only_signature_fields(page: Any) -> bool:
    """Every annotation on `page` is the widget of a signature field."""
    for ref in page.get("/Annots") or ():
        annot = ref.get_object()
        field = annot
        if "/FT" not in annot and "/Parent" in annot:
            field = annot["/Parent"].get_object()
        if annot.get("/Subtype") != "/Widget" or field.get("/FT") != "/Sig":
            return False
    return True


def _signature_valid(sig: Any, roots: list[Any], now: datetime) -> bool:
    """Raise unless `sig` is intact and valid with a certificate valid `now`; whether its
    certificate chains to one of `roots`."""
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    context = ValidationContext(trust_roots=roots, allow_fetching=False,
                                revocation_mode="soft-fail", moment=now)
    try:
        status = validate_pdf_signature(sig, context)
    except Exception as exc:
        raise FormRefused("form_signature_invalid") from exc
    cert = status.signing_cert
    validity = cert["tbs_certificate"]["validity"]
    in_period = validity["not_before"].native <= now <= validity["not_after"].native
    changed = (status.docmdp_ok is False
               or status.modification_level is None
               or status.modification_level > ModificationLevel.FORM_FILLING)
    if not (status.intact and status.valid and in_period) or changed:
        raise FormRefused("form_signature_invalid")
    return bool(status.trusted)
