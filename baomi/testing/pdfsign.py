"""Electronic signatures for tests: a client signs its authorization form with a PAdES
signature (pyHanko, real keys and certificates made with `cryptography`), as its
电子营业执照 or a CA-issued certificate would."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Identity:
    """A key and its certificate."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def sha256(self) -> str:
        return self.cert.fingerprint(hashes.SHA256()).hex()

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def identity(name: str = "恒信有限公司", *, issuer: Identity | None = None, ca: bool = False,
             not_before: datetime | None = None, days: int = 365,
             uscc: str = "", crl_url: str = "") -> Identity:
    """A certificate for `name`, self-signed unless `issuer` (a CA identity) signs it;
    `uscc` (统一社会信用代码) goes into the subject's serialNumber, as enterprise CAs do;
    `crl_url` names where its issuer publishes revocations (CRL distribution point), as
    CA-issued certificates do."""
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.NameAttribute(NameOID.COMMON_NAME, name),
             x509.NameAttribute(NameOID.ORGANIZATION_NAME, name)]
    if uscc:
        names.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, uscc))
    subject = x509.Name(names)
    start = not_before or datetime.now(UTC) - timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=not ca, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
            encipher_only=False, decipher_only=False), critical=True)
    )
    if crl_url:
        builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            [x509.UniformResourceIdentifier(crl_url)], None, None, None)]), critical=False)
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return Identity(key, cert)


def revocation_list(ca: Identity, revoked: tuple[Identity, ...] = (), *,
                    issued: datetime | None = None, days: int = 7,
                    reason: x509.ReasonFlags | None = None, delta_of: int | None = None,
                    key: ec.EllipticCurvePrivateKey | None = None,
                    idp: x509.IssuingDistributionPoint | None = None,
                    der: bool = False) -> bytes:
    """A CRL (PEM, or DER) naming `ca` as issuer and revoking `revoked` (each with
    `reason`, if given), issued at `issued` (an hour ago) and next due `days` later;
    signed by `ca`'s key, or by `key` (a forgery under the CA's name); a delta list of
    base list number `delta_of`, if given; limited to the part `idp` names, if given."""
    start = issued or datetime.now(UTC) - timedelta(hours=1)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca.cert.subject)
               .last_update(start).next_update(start + timedelta(days=days))
               .add_extension(x509.CRLNumber((delta_of or 0) + 1), critical=False))
    if delta_of is not None:
        builder = builder.add_extension(x509.DeltaCRLIndicator(delta_of), critical=True)
    if idp is not None:
        builder = builder.add_extension(idp, critical=True)
    for who in revoked:
        entry = (x509.RevokedCertificateBuilder().serial_number(who.cert.serial_number)
                 .revocation_date(start))
        if reason is not None:
            entry = entry.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    made = builder.sign(key or ca.key, hashes.SHA256())
    return made.public_bytes(serialization.Encoding.DER if der else serialization.Encoding.PEM)


def pdf_signer(who: Identity, chain: tuple[Identity, ...] = ()) -> Any:
    """A pyHanko signer for `who`, carrying the certificates of `chain`."""
    from asn1crypto import keys as akeys
    from asn1crypto import x509 as ax509
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    def der(cert: x509.Certificate) -> Any:
        return ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))

    key = akeys.PrivateKeyInfo.load(who.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return signers.SimpleSigner(
        signing_cert=der(who.cert), signing_key=key,
        cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
            [der(c.cert) for c in chain]))


def sign_pdf(data: bytes, signer: Identity | None = None, *, field: str = "Signature1",
             chain: tuple[Identity, ...] = (), strict: bool = True) -> bytes:
    """`data` with a PAdES signature by `signer` appended (a new identity if None);
    `strict=False` reads `data` leniently, as a viewer that signs a damaged file does."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    from baomi.access.formsig import _outside_event_loop

    signing = pdf_signer(signer or identity(), chain)

    def sign() -> bytes:
        out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(data), strict=strict),
                               signers.PdfSignatureMetadata(field_name=field),
                               signer=signing)
        return bytes(out.getvalue())

    return bytes(_outside_event_loop(sign))
