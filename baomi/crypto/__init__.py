"""Baomi's cryptography: the only package that imports `cryptography.hazmat`.

Safe recipes for the rest of the product (see docs/crypto.md):

- keys: `Key`, `client_key_new/wrap/unwrap`, `data_key_new/wrap/unwrap`,
  `derive_subkey`, `blind_index`;
- small values: `seal_bytes` / `open_bytes`;
- documents: `StreamSealer`, `seal_stream`, `open_stream`, `seal_file`, `open_file`,
  `open_file_iter`, `verify_file`, `sealed_size`;
- master keys: `provider_from_config`, `KeyFileProvider`, `PassphraseProvider`,
  `Pkcs11Provider`, `Keyring`, `rewrap`, `needs_rewrap`;
- hashes and signatures: `digest`, `hash_function`, `sign`, `verify`.

Every failure to open anything raises `DecryptionError`.
"""

from baomi.crypto.digest import digest, hash_function
from baomi.crypto.envelope import open_bytes, seal_bytes, sealed_key_id
from baomi.crypto.errors import (
    CryptoError,
    DecryptionError,
    KeyFileError,
    KeyNotAvailable,
    ProviderError,
    WrongPassphrase,
)
from baomi.crypto.keys import (
    MasterKeyProvider,
    blind_index,
    client_key_new,
    client_key_rewrap,
    client_key_unwrap,
    client_key_wrap,
    data_key_new,
    data_key_unwrap,
    data_key_wrap,
    derive_subkey,
)
from baomi.crypto.providers import (
    KeyFileProvider,
    Keyring,
    PassphraseParams,
    PassphraseProvider,
    Pkcs11Provider,
    needs_rewrap,
    provider_from_config,
    rewrap,
    wrapped_key_id,
)
from baomi.crypto.signing import SignatureInvalid, generate_signing_key, public_key, sign, verify
from baomi.crypto.stream import (
    DEFAULT_CHUNK_SIZE,
    StreamSealer,
    open_file,
    open_file_iter,
    open_stream,
    parse_stream_header,
    seal_file,
    seal_stream,
    sealed_size,
    verify_file,
)
from baomi.crypto.suites import DEFAULT_SUITE, SUITE_NAMES, Key, SuiteName, encode_context

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_SUITE",
    "SUITE_NAMES",
    "CryptoError",
    "DecryptionError",
    "Key",
    "KeyFileError",
    "KeyFileProvider",
    "KeyNotAvailable",
    "Keyring",
    "MasterKeyProvider",
    "PassphraseParams",
    "PassphraseProvider",
    "Pkcs11Provider",
    "ProviderError",
    "SignatureInvalid",
    "StreamSealer",
    "SuiteName",
    "WrongPassphrase",
    "blind_index",
    "client_key_new",
    "client_key_rewrap",
    "client_key_unwrap",
    "client_key_wrap",
    "data_key_new",
    "data_key_unwrap",
    "data_key_wrap",
    "derive_subkey",
    "digest",
    "encode_context",
    "generate_signing_key",
    "hash_function",
    "needs_rewrap",
    "open_bytes",
    "open_file",
    "open_file_iter",
    "open_stream",
    "parse_stream_header",
    "provider_from_config",
    "public_key",
    "rewrap",
    "seal_bytes",
    "seal_file",
    "seal_stream",
    "sealed_key_id",
    "sealed_size",
    "sign",
    "verify",
    "verify_file",
    "wrapped_key_id",
]
