"""Ed25519 signatures (ledger checkpoints, exported evidence).

Private keys travel as their 32-byte raw seed so that key providers can wrap and store
them like any other secret; public keys as 32 raw bytes.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature as _HazmatInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)


class SignatureInvalid(Exception):
    """A signature did not verify. Raised instead of returning False."""


def generate_signing_key() -> bytes:
    """A fresh Ed25519 private key as its 32-byte raw seed."""
    return Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )


def public_key(private_seed: bytes) -> bytes:
    """The 32-byte raw public key for a private seed."""
    priv = Ed25519PrivateKey.from_private_bytes(private_seed)
    return priv.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def sign(private_seed: bytes, message: bytes) -> bytes:
    """Sign `message`; returns the 64-byte signature."""
    return Ed25519PrivateKey.from_private_bytes(private_seed).sign(message)


def verify(public: bytes, message: bytes, signature: bytes) -> None:
    """Verify a signature; raises `SignatureInvalid` on any failure."""
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (_HazmatInvalidSignature, ValueError) as exc:
        raise SignatureInvalid("signature does not verify") from exc
