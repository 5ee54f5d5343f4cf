"""Checking a client's electronically signed authorization form (客户授权书, F07).

Baomi issues the form as a PDF with one empty signature field (`exports.SIGNATURE_FIELD`,
a box bottom right of the last page) and registers its SHA-256 and length
(`AuthorizationForm`). The client signs it with a PDF digital signature (PAdES, as
电子营业执照 and CA-issued certificates produce), which is an incremental update: the
signed file begins with exactly the bytes that were issued. A signed form is accepted
only if, cheapest checks first:

1. it begins with the issued bytes (another PDF carrying a copied code, or the same form
   rewritten by an editor, does not: `form_tampered`);
2. something was appended, at most `MAX_REVISIONS` revisions, and it carries one to
   `MAX_SIGNATURES` signatures (the issued form uploaded straight back is
   `form_unsigned`; more is refused before any costly parsing);
3. every signature is intact and cryptographically valid, its certificate is in its
   validity period, and nothing after it goes beyond signing or filling fields
   (pyHanko's difference analysis, which covers the revisions *after* each signature):
   `form_signature_invalid`;
4. where trust roots are configured (``BAOMI_FORM_TRUST_ROOTS``, CA certificates only),
   every signer chains to one of them (`form_signer_untrusted`) and the first signer's
   certificate carries exactly the client's unified social credit code as its
   serialNumber or organizationIdentifier (`form_signer_not_client`); with revocation
   lists as well (``BAOMI_FORM_CRLS``), no certificate of a signer's chain is revoked by
   its issuer's list (`form_signer_revoked`), every issuer in the chain has a list among
   them (`form_revocation_unknown`), and each is current (`form_revocation_stale`; see
   `_revocation`);
5. what the form shows is what was issued (`form_tampered`), covering the revisions
   *before* the first signature too. First, every reader must take the same objects from
   the appended updates (`_updates_plain`): each has a classic xref table, as the issued
   form has (no /XRefStm, so no object streams), listing objects of its own only, with
   generation 0, each at the exact offset of its `N 0 obj` header; the appended bytes
   hold no other object header, trailer or startxref, and nothing after the last %%EOF;
   pypdf finds each object where pyHanko does, and follows no reference to a freed
   object, to another generation or to an object no xref lists. (Viewers repair an xref
   that is off, ignore generations, take an object stream's index, the last of
   duplicates or the last startxref; pypdf takes the first, searches the file for the
   text, reads a freed object's former value.) Then: a page tree of /Pages nodes and
   /Page leaves only, with true counts (viewers show other kids as pages, pypdf skips
   them); every page dictionary (content, resources resolved deeply, boxes, actions,
   user unit; streams hashed as stored, never decompressed); the catalog (no new
   actions, names, attachments, portfolio, XFA or optional-content settings); and no
   annotation but signature widgets: signed ones invisible or inside the issued
   signature box on its page, an unsigned one only as issued. An appearance drawn over
   the terms, by a signature field or any other annotation, is refused.

Revocation is not checked (no CRL or OCSP is fetched). A scanned paper form cannot be
checked this way; see ``docs/access.md``.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _

log = logging.getLogger(__name__)

MAX_SIGNATURES = 4
MAX_REVISIONS = 8
MAX_OBJECTS = 50_000  # objects hashed when comparing what two revisions show

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
    "form_signer_revoked": _(
        "The certificate the form was signed with has been revoked by its certificate "
        "authority."
    ),
    "form_revocation_stale": _(
        "The signer's certificate cannot be checked: the firm's copy of its certificate "
        "authority's revocation list is out of date. Tell the administrator to renew it."
    ),
    "form_revocation_unknown": _(
        "The signer's certificate cannot be checked: no revocation list of the certificate "
        "authority that issued it is configured. Tell the administrator."
    ),
    "form_signer_not_client": _(
        "The form was not signed with a certificate of this client: the certificate does "
        "not carry the client's unified social credit code."
    ),
    "form_too_large": _("The file is too large to be a signed authorization form."),
    "form_expired": _(
        "This form has expired: it was not recorded by the date printed on it. Download a "
        "new form for the client to sign."
    ),
    "form_check_unavailable": _(
        "Signed forms cannot be checked now: the list of trusted certificate authorities "
        "or a revocation list cannot be read. Tell the administrator."
    ),
    # Refused by `access.services.authorization_grant` before or after these checks.
    "form_outdated": _(
        "This form was issued before signed forms were checked. Issue a new form for the "
        "client to sign."
    ),
    "form_reused": _(
        "This signed form has already been used for an authorization. Print a new form "
        "for the client to sign."
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


def _ders(data: bytes) -> list[bytes]:
    """The DER objects in a file's `data`: each PEM block, or the file itself."""
    from asn1crypto import pem

    return [der for _t, _h, der in pem.unarmor(data, True)] if pem.detect(data) else [data]


def trust_roots() -> list[Any]:
    """The certificates (asn1crypto) in the PEM or DER files named by
    BAOMI_FORM_TRUST_ROOTS; `form_check_unavailable` if one cannot be read."""
    from asn1crypto import x509 as ax

    roots = []
    for name in getattr(settings, "BAOMI_FORM_TRUST_ROOTS", ()):
        try:
            for der in _ders(Path(name).read_bytes()):
                root = ax.Certificate.load(der)
                _ = root.subject.human_friendly  # parsed now: a corrupt file fails here
                usage = root.key_usage_value
                if not root.ca or (usage is not None and "key_cert_sign" not in usage.native):
                    # An end-entity certificate listed by mistake would issue "trusted"
                    # certificates to whoever holds its key.
                    raise ValueError("not a CA certificate")
                roots.append(root)
        except Exception as exc:  # a malformed certificate: its parser raises many types
            log.error("BAOMI_FORM_TRUST_ROOTS: cannot use %s (%s: %s)", name,
                      type(exc).__name__, exc)
            raise FormRefused("form_check_unavailable") from exc
    return roots


# Parsed revocation lists by file: the SHA-256 of its content and the lists in it. A
# list with hundreds of thousands of entries takes seconds to parse, its file
# milliseconds to read and hash; a renewed file (any change at all) is parsed again.
_parsed_lists: dict[str, tuple[bytes, list[Any]]] = {}
_parsed_lock = threading.Lock()
# A list issued up to this long "in the future" (the CA's clock ahead of ours) is current.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class RevocationList:
    """One configured list: `crl` (`cryptography`: its signature and entries), `issuer`
    (asn1crypto, compared as RFC 5280 says), `complete` (a base list with no critical
    extension left unprocessed) and `idp` (its issuing distribution point: the part of
    the issuer's certificates it covers, None for all)."""

    crl: Any
    issuer: Any
    complete: bool
    idp: Any


# Revocation refusals, the most telling first: when several certificates fail, the first
# of these found is the one given.
_REVOCATION_CODES = ("form_signer_revoked", "form_revocation_unknown", "form_revocation_stale")


def _most_telling(codes: Iterable[str | None]) -> str | None:
    found = set(codes)
    return next((code for code in _REVOCATION_CODES if code in found), None)


# The critical list extensions `_covers` processes (RFC 5280: a list with another
# critical extension must not decide a certificate's status).
_KNOWN_CRITICAL = frozenset({"issuing_distribution_point", "delta_crl_indicator"})


def _read_lists(name: str) -> list[RevocationList]:
    from asn1crypto import crl as acrl
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    data = Path(name).read_bytes()
    key = hashlib.sha256(data).digest()
    with _parsed_lock:
        cached = _parsed_lists.get(name)
    if cached is not None and cached[0] == key:
        return cached[1]
    lists = []
    for der in _ders(data):
        found = x509.load_der_x509_crl(der)
        # Everything the check reads, read now: a malformed list fails here, once.
        _ = (found.last_update_utc, found.next_update_utc, found.signature_hash_algorithm,
             [(e.serial_number, _reason(e)) for e in found])
        parsed = acrl.CertificateList.load(found.public_bytes(Encoding.DER))
        idp = parsed.issuing_distribution_point_value
        complete = (parsed.delta_crl_indicator_value is None
                    and not set(parsed.critical_extensions) - _KNOWN_CRITICAL)
        _ = parsed.issuer.human_friendly, idp.native if idp is not None else None
        lists.append(RevocationList(found, parsed.issuer, complete, idp))
    if not lists:
        raise ValueError("no revocation list in the file")
    with _parsed_lock:
        _parsed_lists[name] = (key, lists)
    return lists


def revocation_lists() -> list[RevocationList]:
    """The certificate revocation lists in the PEM or DER files named by
    BAOMI_FORM_CRLS; `form_check_unavailable` if one cannot be read. Whether a list is
    genuine (signed by the CA it names), covers a certificate and is current is checked
    per signer (`_revocation`)."""
    lists = []
    for name in getattr(settings, "BAOMI_FORM_CRLS", ()):
        try:
            lists.extend(_read_lists(name))
        except Exception as exc:  # any malformed list: its parsers raise many types
            log.error("BAOMI_FORM_CRLS: cannot use %s (%s)", name, type(exc).__name__)
            raise FormRefused("form_check_unavailable") from exc
    return lists


def _reason(entry: Any) -> Any:
    from cryptography import x509

    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return None


def _current(found: Any, now: datetime) -> bool:
    """Whether a list (`cryptography`) is in force `now`: issued (allowing
    `CLOCK_SKEW`) and not past its next update. Without a next update it cannot be
    judged current."""
    next_update = found.next_update_utc
    return (next_update is not None and found.last_update_utc <= now + CLOCK_SKEW
            and now < next_update)


def _signed_by(found: Any, issuer: Any) -> bool:
    """Whether the list `found` (`cryptography`) verifies with the key of `issuer`
    (asn1crypto)."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_der_public_key(issuer.public_key.dump())
        return bool(found.is_signature_valid(key))
    except Exception:  # a key type or algorithm `cryptography` cannot verify
        return False


def _general_names(general_names: Any) -> set[bytes]:
    return {name.dump() for name in general_names}


def _covers(found: RevocationList, cert: Any) -> bool:
    """Whether `found` is a complete list of the certificates of its issuer's that
    `cert` (asn1crypto) is one of: a base list (a delta list, or one with a critical
    extension left unprocessed, covers nothing alone) whose issuing distribution point,
    if any, limits it neither to some reasons, nor to another issuer's certificates
    (indirect), nor to attribute certificates, nor to CA or end-entity certificates
    when `cert` is the other kind, and names one of `cert`'s distribution points."""
    if not found.complete:
        return False
    idp = found.idp
    if idp is None:
        return True
    if (idp["only_some_reasons"].native or idp["indirect_crl"].native
            or idp["only_contains_attribute_certs"].native):
        return False
    if idp["only_contains_ca_certs"].native and not cert.ca:
        return False
    if idp["only_contains_user_certs"].native and cert.ca:
        return False
    point = idp["distribution_point"]
    if point.native is None:
        return True
    if point.name != "full_name":
        return False  # a name relative to the issuer: not matched here, so no coverage
    points: set[bytes] = set()
    for dp in cert.crl_distribution_points:
        name = dp["distribution_point"]
        if name.native is not None and name.name == "full_name":
            points |= _general_names(name.chosen)
    return bool(_general_names(point.chosen) & points)


def _revocation(chain: list[Any], lists: list[RevocationList], now: datetime) -> str | None:
    """Why the certificate chain `chain` (asn1crypto, root first, as pyHanko validated
    it) fails the configured revocation lists, or None. Its anchor must be a root
    (self-signed): an intermediate listed as a trust root would never be checked
    against its own issuer's list (`form_revocation_unknown`). For each certificate
    below it, its issuer's lists are those naming the issuer and verifying with the
    issuer's key (a list under a copied name, signed by another key, is not):
    `form_signer_revoked` if one of them lists its serial (also on hold; a delta list's
    removeFromCRL does not count, nor does a later release of a hold), else
    `form_revocation_unknown` if none of them covers it (`_covers`), else
    `form_revocation_stale` if one of them is not current. Certificates' distribution
    points and delta pointers are not followed: the firm's lists are all there is."""
    from cryptography import x509

    if not chain or chain[0].self_signed == "no":
        return "form_revocation_unknown"
    outcomes = []
    for issuer, cert in itertools.pairwise(chain):
        own = [f for f in lists if f.issuer == cert.issuer and _signed_by(f.crl, issuer)]
        for found in own:
            entry = found.crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if entry is not None and _reason(entry) != x509.ReasonFlags.remove_from_crl:
                return "form_signer_revoked"
        if not any(_covers(found, cert) for found in own):
            outcomes.append("form_revocation_unknown")
        elif not all(_current(found.crl, now) for found in own):
            outcomes.append("form_revocation_stale")
    return _most_telling(outcomes)


@dataclass(frozen=True)
class ListDue:
    """A configured revocation list whose next update is near or past."""

    issuer: str
    next_update: datetime | None


def revocation_lists_due(now: datetime, within: timedelta) -> list[ListDue]:
    """The configured revocation lists (only with trust roots, as `check` uses them)
    whose next update falls before `now + within`, or that have none: once past it, every
    form under that CA is refused (`form_revocation_stale`) until the file is renewed.
    Raises `FormRefused` (`form_check_unavailable`) when a list cannot be read."""
    if not getattr(settings, "BAOMI_FORM_TRUST_ROOTS", ()):
        return []
    due = []
    for found in revocation_lists():
        next_update = found.crl.next_update_utc
        if next_update is None or next_update <= now + within:
            due.append(ListDue(found.issuer.human_friendly, next_update))
    return due


def check(data: bytes, *, issued_size: int, issued_sha256: str, uscc: str = "",
          now: datetime | None = None) -> Signature:
    """Accept `data` as the signed copy of the issued form, or raise `FormRefused`.
    `uscc` is the client's unified social credit code (checked with trust roots)."""
    if (len(data) < issued_size
            or hashlib.sha256(data[:issued_size]).hexdigest() != issued_sha256):
        raise FormRefused("form_tampered")
    if len(data) == issued_size:
        raise FormRefused("form_unsigned")
    from pyhanko.pdf_utils.reader import PdfFileReader

    with _unreadable_is_tampered():
        reader = PdfFileReader(io.BytesIO(data))
        revisions = reader.xrefs.total_revisions
        base = max(r for r in range(revisions)
                   if reader.xrefs.get_xref_container_info(r).start_location < issued_size)
        if revisions - base - 1 > MAX_REVISIONS:
            raise FormRefused("form_tampered")
        signatures = list(reader.embedded_signatures)
    if not signatures:
        raise FormRefused("form_unsigned")
    if len(signatures) > MAX_SIGNATURES:
        raise FormRefused("form_tampered")
    roots = trust_roots()
    # Revocation needs a chain to check along: without trust roots no list applies.
    crls = revocation_lists() if roots else []
    moment = now or datetime.now(UTC)
    trusted = [_outside_event_loop(_signature_valid, s, roots, moment) for s in signatures]
    first = min(signatures, key=lambda s: s.signed_revision)
    all_trusted = all(path is not None for path in trusted)
    if roots and not all_trusted:
        raise FormRefused("form_signer_untrusted")
    if crls:
        # Every signer's chain; the most telling refusal is given (a revocation first).
        code = _most_telling(_revocation(_chain(path), crls, moment) for path in trusted)
        if code is not None:
            raise FormRefused(code)
    if roots and not _names(first.signer_cert, uscc):
        raise FormRefused("form_signer_not_client")
    with _unreadable_is_tampered():
        defined, freed = _updates_plain(data, reader, base, issued_size)
    _unchanged_since_issue(data, issued_size, defined, freed)
    return Signature(signer_sha256=first.signer_cert.sha256.hex(),
                     trusted=bool(roots) and all_trusted,
                     count=len(signatures))


def _chain(path: Any) -> list[Any]:
    """A pyHanko validation path's certificates (asn1crypto, as pyHanko parsed them),
    root first."""
    return list(path.iter_certs(include_root=True))


@contextmanager
def _unreadable_is_tampered() -> Iterator[None]:
    """pyHanko and pypdf raise many types on malformed input: each is `form_tampered`."""
    try:
        yield
    except FormRefused:
        raise
    except Exception as exc:
        raise FormRefused("form_tampered") from exc


def _outside_event_loop(fn: Any, *args: Any) -> Any:
    """`fn(*args)`, in a helper thread if this one runs an event loop (pyHanko's
    synchronous validation calls `asyncio.run`, which a running loop refuses)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn(*args)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args).result()


# Where enterprise CAs put the 统一社会信用代码: serialNumber (2.5.4.5) and
# organizationIdentifier (2.5.4.97, ETSI form "NTRCN-<code>").
_USCC_ATTRIBUTES = frozenset({"serial_number", "2.5.4.97", "organization_identifier"})
_USCC_PREFIXES = ("NTRCN-", "NTRCN:", "USCC:", "USCC-")


def _names(cert: Any, uscc: str) -> bool:
    """Whether `cert`'s subject carries exactly `uscc` as its serialNumber or
    organizationIdentifier (a value merely containing it, an e-mail address or a common
    name does not count)."""
    wanted = uscc.strip().upper()
    if not wanted:
        return False
    for rdn in cert.subject.chosen:
        for attribute in rdn:
            if attribute["type"].native not in _USCC_ATTRIBUTES:
                continue
            value = attribute["value"].native
            if not isinstance(value, str):
                continue
            value = value.strip().upper()
            for prefix in _USCC_PREFIXES:
                value = value.removeprefix(prefix)
            if value == wanted:
                return True
    return False


def _signature_valid(sig: Any, roots: list[Any], now: datetime) -> Any:
    """Raise unless `sig` is intact and valid with a certificate valid `now`, and nothing
    after it changed more than signing or filling fields; its validation path (root
    first) if its certificate chains to one of `roots`, else None. Revocation is checked
    apart (`_revocation`), on the firm's lists only: nothing is fetched."""
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
    return status.validation_path if status.trusted else None


# --- What the form shows -----------------------------------------------------------------

# Catalog entries signing adds or changes; every other entry must be as issued.
_CATALOG_SIGNING = frozenset({"/AcroForm", "/Pages", "/Metadata", "/DSS", "/Perms",
                              "/Extensions", "/Version"})
_ACROFORM_SIGNING = frozenset({"/Fields", "/SigFlags", "/DA", "/DR"})
# Back references (to the page tree or a page) are not what an object shows; annotations
# are checked apart (`_annotations_ok`), wherever a page is reached from.
_SKIPPED = frozenset({"/Parent", "/P", "/Annots"})


# What a reader may take for an object header ("N G obj", PDF whitespace between).
_HEADER = re.compile(rb"(?<![0-9])([0-9]+)[\0\s]+([0-9]+)[\0\s]+obj")
_END = re.compile(rb"startxref[\0\s]+([0-9]+)[\0\s]+%%EOF[\0\s]*")


def _updates_plain(data: bytes, reader: Any, base: int, issued_size: int,
                   ) -> tuple[dict[int, int], set[tuple[int, int]]]:
    """Refuse unless the updates appended to the issued form are written as a signer
    writes them, so that pypdf, pyHanko and viewers read the same objects from them (see
    point 5 of the module's list). Returns where pyHanko reads each object they define
    (number: offset) and the objects (number, generation) they free."""
    from pyhanko.pdf_utils.xref import XRefSectionType

    xrefs = reader.xrefs
    defined: dict[int, int] = {}
    listed: dict[int, int] = {}  # offset: number, of each object the updates define
    freed: set[tuple[int, int]] = set()
    start = issued_size
    for revision in range(base + 1, xrefs.total_revisions):
        info, section = xrefs.get_xref_container_info(revision), xrefs.get_xref_data(revision)
        at = info.declared_startxref
        if (info.xref_section_type is not XRefSectionType.STANDARD or at < start
                or not data.startswith(b"xref", at)):
            raise FormRefused("form_tampered")
        for number, (generation, offset) in section.standard_xrefs.items():
            if (generation != 0 or not start <= offset < at or offset in listed
                    or number in section.freed):
                raise FormRefused("form_tampered")
            listed[offset], defined[number] = number, offset
        freed |= {(r.idnum, r.generation) for r in xrefs.refs_freed_in_revision(revision)}
        start = at + 4
    headers = 0
    for match in _HEADER.finditer(data, issued_size):
        if listed.get(match.start()) != int(match[1]) or int(match[2]) != 0:
            raise FormRefused("form_tampered")  # a duplicate, or one no xref lists
        headers += 1
    appended = xrefs.total_revisions - base - 1
    last = data.rfind(b"startxref")
    end = _END.fullmatch(data, last) if last >= issued_size else None
    if (headers != len(listed) or end is None or int(end[1]) != reader.last_startxref
            or data.count(b"trailer", issued_size) != appended
            or data.count(b"startxref", issued_size) != appended):
        raise FormRefused("form_tampered")
    return defined, freed


def _unchanged_since_issue(data: bytes, issued_size: int, defined: dict[int, int],
                           freed: set[tuple[int, int]]) -> None:
    """The signed copy shows what was issued (point 5 of the module's list). pypdf must
    find the objects the updates define where pyHanko does (`defined`, number: offset)."""
    from pypdf import PdfReader

    with _unreadable_is_tampered():
        issued, signed = PdfReader(io.BytesIO(data[:issued_size])), _listed_only(data, freed)
        ours = {n: at for n, at in signed.xref.get(0, {}).items() if at >= issued_size}
        if (ours != defined or signed.xref_objStm
                or any(signed.xref[g] for g in signed.xref if g != 0)):
            raise FormRefused("form_tampered")
        same = (_page_tree_ok(signed)
                and _Shown(issued).digest() == _Shown(signed).digest()
                and _acroform_ok(signed) and _annotations_ok(issued, signed))
    if not same:
        raise FormRefused("form_tampered")


def _listed_only(data: bytes, freed: set[tuple[int, int]]) -> Any:
    """A pypdf reader of `data` that refuses to follow a reference to an object its xref
    does not list in use with generation 0 (`freed` is what the updates free: pypdf
    ignores free entries). pypdf would read a freed object's former value, or search the
    file for the text "N G obj"; viewers show null, or ignore the generation."""
    from pypdf import PdfReader

    class Reader(PdfReader):
        def get_object(self, indirect_reference: Any) -> Any:
            ref = indirect_reference
            number, generation = (ref, 0) if isinstance(ref, int) else (ref.idnum,
                                                                        ref.generation)
            if (generation != 0 or number not in self.xref.get(0, {})
                    or (number, 0) in freed):
                raise FormRefused("form_tampered")
            return super().get_object(ref)

    return Reader(io.BytesIO(data))


class _Shown:
    """A digest of what a document displays, by value (object numbers do not count).
    Each indirect object is hashed once (shared objects are not walked again; a cycle
    is cut), and at most `MAX_OBJECTS` are: beyond, the form is refused."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.done: dict[tuple[int, int], bytes] = {}
        self.count = 0

    def digest(self) -> str:
        out = hashlib.sha256()
        root = self.reader.trailer["/Root"]
        for key in sorted(k for k in root if k not in _CATALOG_SIGNING):
            out.update(key.encode() + self._of(root.raw_get(key)))
        out.update(str(len(self.reader.pages)).encode())
        for page in self.reader.pages:
            # Inherited attributes resolved, then the page's own entries but its
            # annotations (checked apart) and its parent.
            for box in (page.mediabox, page.cropbox):
                out.update(repr([float(v) for v in box]).encode())
            out.update(str(page.rotation).encode())
            out.update(self._of(page.get("/Resources")))
            for key in sorted(k for k in page if k not in _SKIPPED):
                out.update(key.encode() + self._of(page.raw_get(key)))
        return out.hexdigest()

    def _of(self, obj: Any) -> bytes:
        from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, StreamObject

        self.count += 1
        if self.count > MAX_OBJECTS:
            raise FormRefused("form_tampered")
        h = hashlib.sha256()
        if isinstance(obj, IndirectObject):
            key = (obj.idnum, obj.generation)
            if key not in self.done:
                self.done[key] = b"<cycle>"
                self.done[key] = self._of(obj.get_object())
            return self.done[key]
        if isinstance(obj, DictionaryObject):
            h.update(b"<<")
            for name in sorted(k for k in obj if k not in _SKIPPED):
                h.update(name.encode() + self._of(obj.raw_get(name)))
            h.update(b">>")
            if isinstance(obj, StreamObject):
                # As stored (its filters are in the dictionary hashed above): never
                # decompressed, so a compression bomb costs its stored size only.
                h.update(hashlib.sha256(obj._data or b"").digest())
        elif isinstance(obj, ArrayObject):
            h.update(b"[")
            for item in obj:
                h.update(self._of(item))
            h.update(b"]")
        else:
            h.update(type(obj).__name__.encode() + b":" + repr(obj).encode())
        return h.digest()


def _page_tree_ok(reader: Any) -> bool:
    """The page tree holds only /Pages nodes and /Page leaves, and every /Count is the
    number of leaves under it: viewers show a kid of another type as a page, while
    pypdf (and so `_Shown`) skips it."""
    seen: set[tuple[int, int]] = set()

    def leaves(ref: Any, depth: int) -> int:
        node = ref.get_object()
        key = (ref.idnum, ref.generation) if hasattr(ref, "idnum") else None
        if depth > 32 or key in seen:
            raise FormRefused("form_tampered")
        if key:
            seen.add(key)
        kind = node.get("/Type")
        if kind == "/Page" and "/Kids" not in node:
            return 1
        if kind != "/Pages" or "/Kids" not in node:
            raise FormRefused("form_tampered")
        count = sum(leaves(kid, depth + 1) for kid in node["/Kids"])
        if node.get("/Count") != count:
            raise FormRefused("form_tampered")
        return count

    return leaves(reader.trailer["/Root"].raw_get("/Pages"), 0) == len(reader.pages)


def _acroform_ok(reader: Any) -> bool:
    """The form dictionary holds only what signature fields need (no XFA)."""
    form = reader.trailer["/Root"].get("/AcroForm")
    return form is None or set(form.get_object()) <= _ACROFORM_SIGNING


def _annotations_ok(issued: Any, signed: Any) -> bool:
    """Every annotation of the signed copy is a signature widget: a signed one invisible
    or inside the issued signature box, an unsigned one exactly as issued."""
    from baomi.access.exports import SIGNATURE_FIELD

    as_issued = set()
    box, box_page = None, -1
    issued_shown = _Shown(issued)
    for number, page in enumerate(issued.pages):
        for ref in page.get("/Annots") or ():
            annot = ref.get_object()
            as_issued.add(issued_shown._of(annot))
            if annot.get("/T") == SIGNATURE_FIELD:
                box, box_page = [float(v) for v in annot["/Rect"]], number
    shown = _Shown(signed)
    for number, page in enumerate(signed.pages):
        on_box_page = box if number == box_page else None
        for ref in page.get("/Annots") or ():
            annot = ref.get_object()
            field = annot
            if "/FT" not in annot and "/Parent" in annot:
                field = annot["/Parent"].get_object()
            if annot.get("/Subtype") != "/Widget" or field.get("/FT") != "/Sig":
                return False
            if field.get("/V") is None:
                if shown._of(annot) not in as_issued:
                    return False
            elif not (_invisible(annot) or _inside(annot, on_box_page)):
                return False
    return True


def _invisible(annot: Any) -> bool:
    x0, y0, x1, y1 = (float(v) for v in annot.get("/Rect", [0, 0, 0, 0]))
    return abs(x1 - x0) < 1 and abs(y1 - y0) < 1


def _inside(annot: Any, box: list[float] | None) -> bool:
    if box is None:
        return False
    x0, y0, x1, y1 = (float(v) for v in annot["/Rect"])
    bx0, by0, bx1, by1 = box
    slack = 1.0
    return (min(x0, x1) >= bx0 - slack and max(x0, x1) <= bx1 + slack
            and min(y0, y1) >= by0 - slack and max(y0, y1) <= by1 + slack)
