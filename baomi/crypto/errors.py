"""Exceptions raised by `baomi.crypto`.

Every failure to open sealed data raises `DecryptionError` and nothing more specific
about *why*: telling a caller (or an attacker driving one) whether the tag, the header,
the key or the length was wrong turns the error into an oracle. The only refinement is
`KeyNotAvailable`, which says that the key named in the (public, unauthenticated)
header is not configured: that is an operational fact an operator must be able to see
during a rotation, it reveals nothing an attacker could not read from the header, and it
is still a `DecryptionError` so callers that catch the base class lose nothing.
"""

from __future__ import annotations


class CryptoError(Exception):
    """Base class of every exception `baomi.crypto` raises on purpose."""


class DecryptionError(CryptoError):
    """Sealed data, a wrapped key or a stream could not be opened.

    Raised for a wrong key, wrong associated data, any modified byte, truncation,
    extension, reordering, an unknown format version or suite. Deliberately opaque.
    """

    def __init__(self, message: str = "decryption failed") -> None:
        super().__init__(message)


class KeyNotAvailable(DecryptionError):
    """The key id named in a wrapped blob belongs to no configured master key."""


class KeyFileError(CryptoError):
    """A master key file is missing, malformed, or readable by group or others."""


class WrongPassphrase(CryptoError):
    """The passphrase does not derive the master key recorded in the parameters."""


class ProviderError(CryptoError):
    """A master-key provider is misconfigured or its backend (HSM) failed."""
