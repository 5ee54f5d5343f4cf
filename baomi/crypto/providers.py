"""Master-key providers: key file (default), passphrase (Argon2id), PKCS#11 HSM.

Every provider wraps with an AEAD and returns a ``BMK`` envelope (see
`baomi.crypto.envelope`) whose header names the wrapping key, so a `Keyring` of old
and new providers can open blobs from before a rotation and `rewrap` can move them to
the new key without downtime. `provider_from_config` builds one from settings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import stat
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from baomi.crypto.envelope import (
    MAGIC_WRAPPED_KEY,
    SCHEME_RANDOM96,
    build_header,
    open_envelope,
    parse_header,
    seal_envelope,
)
from baomi.crypto.errors import (
    DecryptionError,
    KeyFileError,
    KeyNotAvailable,
    ProviderError,
    WrongPassphrase,
)
from baomi.crypto.keys import MasterKeyProvider
from baomi.crypto.suites import (
    DEFAULT_SUITE,
    GCM_NONCE_SIZE,
    KEY_ID_SIZE,
    Key,
    RandomSource,
    SuiteName,
    encode_context,
    get_suite,
)

StrPath = str | os.PathLike[str]


def wrapped_key_id(blob: bytes) -> bytes:
    """The id of the key that wrapped `blob` (read from its unauthenticated header).

    Raises `DecryptionError` if `blob` is not a wrapped key.
    """
    return parse_header(MAGIC_WRAPPED_KEY, blob)[2]


def _write_secret_file(path: Path, data: bytes, *, rand: RandomSource) -> None:
    """Create `path` with mode 0600 holding `data`, atomically, never overwriting.

    The bytes go to a temporary file in the same directory first and are then
    hard-linked into place: link() fails if the target exists, and readers never see
    a half-written file.
    """
    tmp = path.with_name(f".{path.name}.{rand(8).hex()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # the umask could only have narrowed it; be explicit
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise KeyFileError(f"{path} already exists; refusing to overwrite a key") from None
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _read_secret_file(path: Path) -> bytes:
    """Read a secret file, refusing links, non-regular files and group/world access."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} does not exist") from None
    except OSError as exc:
        raise KeyFileError(f"cannot open key file {path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileError(f"key file {path} is not a regular file")
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise KeyFileError(
                f"key file {path} has mode {mode:04o}: it is accessible to group or others; "
                f"run `chmod 600 {path}` and check who may have copied it"
            )
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read()
    finally:
        os.close(fd)


class _SoftwareKekProvider:
    """A provider whose KEK is in process memory; wraps with the xn192 scheme."""

    def __init__(self, kek: Key, *, rand: RandomSource = os.urandom) -> None:
        self._kek = kek
        self._rand = rand

    @property
    def key_id(self) -> bytes:
        """Id of the master key (see `Key.key_id`)."""
        return self._kek.key_id

    @property
    def suite(self) -> SuiteName:
        """Suite used for wrapping."""
        return self._kek.suite

    def wrap(self, plaintext_key: bytes, aad: bytes) -> bytes:
        """Wrap `plaintext_key` bound to `aad` (see `MasterKeyProvider`)."""
        return seal_envelope(MAGIC_WRAPPED_KEY, self._kek, plaintext_key, aad, rand=self._rand)

    def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        """Unwrap; raises `KeyNotAvailable` for another key's blob, else `DecryptionError`."""
        if wrapped_key_id(blob) != self._kek.key_id:
            raise KeyNotAvailable("blob was wrapped by a master key this provider does not hold")
        return open_envelope(MAGIC_WRAPPED_KEY, self._kek, blob, aad)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key_id={self.key_id.hex()!r})"


class KeyFileProvider(_SoftwareKekProvider):
    """Master key in a file of raw key bytes (32 for AES-256, 16 for SM4), mode 0600."""

    @classmethod
    def create(
        cls, path: StrPath, *, suite: SuiteName = DEFAULT_SUITE, rand: RandomSource = os.urandom
    ) -> KeyFileProvider:
        """Write a new random master key to `path` (mode 0600, atomic) and load it.

        Raises `KeyFileError` if `path` exists: a key file is never overwritten.
        """
        key = Key.generate(suite, rand=rand)
        _write_secret_file(Path(path), key.material, rand=rand)
        return cls(key, rand=rand)

    @classmethod
    def load(
        cls, path: StrPath, *, suite: SuiteName = DEFAULT_SUITE, rand: RandomSource = os.urandom
    ) -> KeyFileProvider:
        """Load the master key from `path`.

        Raises `KeyFileError` if the file is missing, not a regular file, a symlink,
        accessible by group or others, or not exactly one key of `suite` long.
        """
        p = Path(path)
        material = _read_secret_file(p)
        expected = get_suite(suite).key_size
        if len(material) != expected:
            raise KeyFileError(
                f"key file {p} holds {len(material)} bytes; a {suite} master key is {expected}"
            )
        return cls(Key(material, suite), rand=rand)


@dataclass(frozen=True)
class PassphraseParams:
    """Public parameters of a passphrase-derived master key (store beside the config).

    `key_id` doubles as the key-check value: a wrong passphrase derives a key with
    another id, which is detected before any unwrap is attempted.
    """

    salt: bytes
    time_cost: int
    memory_cost_kib: int
    parallelism: int
    suite: SuiteName
    key_id: bytes
    kdf: str = "argon2id"

    def to_json(self) -> str:
        """Serialize (base64 salt, hex key id) as one JSON object."""
        return json.dumps(
            {
                "format": "baomi-passphrase-kek",
                "version": 1,
                "kdf": self.kdf,
                "salt": base64.b64encode(self.salt).decode(),
                "time_cost": self.time_cost,
                "memory_cost_kib": self.memory_cost_kib,
                "parallelism": self.parallelism,
                "suite": self.suite,
                "key_id": self.key_id.hex(),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> PassphraseParams:
        """Parse `to_json` output; raises `ValueError` if malformed or out of bounds."""
        try:
            raw = json.loads(text)
            if raw.get("format") != "baomi-passphrase-kek" or raw.get("version") != 1:
                raise ValueError("not baomi passphrase parameters (version 1)")
            params = cls(
                salt=base64.b64decode(raw["salt"], validate=True),
                time_cost=int(raw["time_cost"]),
                memory_cost_kib=int(raw["memory_cost_kib"]),
                parallelism=int(raw["parallelism"]),
                suite=get_suite(str(raw["suite"])).name,
                key_id=bytes.fromhex(raw["key_id"]),
                kdf=str(raw["kdf"]),
            )
        except (KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise ValueError(f"malformed passphrase parameters: {exc}") from None
        params.check()
        return params

    def check(self) -> None:
        """Raise `ValueError` unless the parameters are ones this code will derive with."""
        if self.kdf != "argon2id":
            raise ValueError(f"unsupported KDF {self.kdf!r}")
        if len(self.salt) < 16 or len(self.key_id) != KEY_ID_SIZE:
            raise ValueError("salt must be >= 16 bytes and key_id 8 bytes")
        if not (1 <= self.time_cost <= 64 and 8 <= self.memory_cost_kib <= 4 * 1024 * 1024):
            raise ValueError("Argon2 time or memory cost out of bounds")
        if not 1 <= self.parallelism <= 64:
            raise ValueError("Argon2 parallelism out of bounds")


def _derive_passphrase_key(passphrase: str, params: PassphraseParams) -> Key:
    from argon2.low_level import Type, hash_secret_raw

    # NFC so that the same passphrase typed on different systems derives the same key.
    secret = unicodedata.normalize("NFC", passphrase).encode()
    material = hash_secret_raw(
        secret=secret,
        salt=params.salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_cost_kib,
        parallelism=params.parallelism,
        hash_len=get_suite(params.suite).key_size,
        type=Type.ID,
    )
    return Key(material, params.suite)


class PassphraseProvider(_SoftwareKekProvider):
    """Master key derived from a passphrase with Argon2id and stored parameters."""

    def __init__(self, kek: Key, params: PassphraseParams, *, rand: RandomSource = os.urandom):
        super().__init__(kek, rand=rand)
        self.params = params

    @classmethod
    def create(
        cls,
        passphrase: str,
        *,
        suite: SuiteName = DEFAULT_SUITE,
        time_cost: int = 3,
        memory_cost_kib: int = 64 * 1024,
        parallelism: int = 4,
        rand: RandomSource = os.urandom,
    ) -> PassphraseProvider:
        """Derive a new master key from `passphrase` with a fresh salt.

        Defaults follow RFC 9106's second recommendation (t=3, 64 MiB, p=4). Persist
        `provider.params` (`save_params`); without them the key cannot be derived again.
        Raises `ValueError` for an empty passphrase or parameters out of bounds.
        """
        if not passphrase:
            raise ValueError("the passphrase must not be empty")
        draft = PassphraseParams(
            salt=rand(16),
            time_cost=time_cost,
            memory_cost_kib=memory_cost_kib,
            parallelism=parallelism,
            suite=suite,
            key_id=bytes(KEY_ID_SIZE),
        )
        draft.check()
        kek = _derive_passphrase_key(passphrase, draft)
        params = PassphraseParams(
            salt=draft.salt,
            time_cost=time_cost,
            memory_cost_kib=memory_cost_kib,
            parallelism=parallelism,
            suite=suite,
            key_id=kek.key_id,
        )
        return cls(kek, params, rand=rand)

    @classmethod
    def unlock(
        cls, passphrase: str, params: PassphraseParams, *, rand: RandomSource = os.urandom
    ) -> PassphraseProvider:
        """Derive the master key again; raises `WrongPassphrase` if it is not the one
        the parameters record (its key id differs)."""
        params.check()
        kek = _derive_passphrase_key(passphrase, params)
        if kek.key_id != params.key_id:
            raise WrongPassphrase("wrong passphrase for this master key")
        return cls(kek, params, rand=rand)

    def save_params(self, path: StrPath) -> None:
        """Write the parameters to `path` (mode 0600, atomic, never overwriting)."""
        _write_secret_file(Path(path), self.params.to_json().encode(), rand=self._rand)

    @classmethod
    def load(
        cls, path: StrPath, passphrase: str, *, rand: RandomSource = os.urandom
    ) -> PassphraseProvider:
        """Read parameters from `path` and unlock; raises `KeyFileError` for a bad file
        and `WrongPassphrase` for a wrong passphrase."""
        raw = _read_secret_file(Path(path))
        try:
            params = PassphraseParams.from_json(raw.decode())
        except (ValueError, UnicodeDecodeError) as exc:
            raise KeyFileError(f"{path}: {exc}") from None
        return cls.unlock(passphrase, params, rand=rand)


def _pkcs11_key_id(token_label: str, key_label: str) -> bytes:
    # The HSM key never leaves the token, so its id cannot be a MAC of the key; it is
    # a hash of where the key lives. Rotation uses a new key label.
    name = encode_context("baomi pkcs11 key-id v1", token_label, key_label)
    return hashlib.sha256(name).digest()[:KEY_ID_SIZE]


class _TokenSession:
    """The one logged-in session a process keeps per token.

    PKCS#11 login state belongs to the application, not the session: a second C_Login
    fails with UserAlreadyLoggedIn and closing any logged-in session logs every session
    out. So all providers on a token share one session, reference-counted, used under a
    lock (sessions are not safe to share between threads without one).
    """

    def __init__(self, session: Any, pin_digest: bytes) -> None:
        self.session = session
        self.pin_digest = pin_digest
        self.lock = threading.Lock()
        self.users = 0


_TOKEN_SESSIONS: dict[tuple[str, str], _TokenSession] = {}
_TOKEN_SESSIONS_LOCK = threading.Lock()


def _acquire_token(lib_path: str, token_label: str, pin: str) -> _TokenSession:
    import pkcs11
    from pkcs11.exceptions import PKCS11Error

    pin_digest = hashlib.sha256(pin.encode()).digest()
    with _TOKEN_SESSIONS_LOCK:
        shared = _TOKEN_SESSIONS.get((lib_path, token_label))
        if shared is None:
            try:
                token = pkcs11.lib(lib_path).get_token(token_label=token_label)
                session = token.open(user_pin=pin, rw=True)
            except (PKCS11Error, RuntimeError, OSError) as exc:
                raise ProviderError(
                    f"cannot open PKCS#11 token {token_label!r}: {exc!r}"
                ) from None
            shared = _TokenSession(session, pin_digest)
            _TOKEN_SESSIONS[(lib_path, token_label)] = shared
        elif not hmac.compare_digest(shared.pin_digest, pin_digest):
            raise ProviderError(
                f"cannot open PKCS#11 token {token_label!r}: the PIN differs from the one "
                "this process logged in with"
            )
        shared.users += 1
        return shared


def _release_token(lib_path: str, token_label: str, shared: _TokenSession) -> None:
    with _TOKEN_SESSIONS_LOCK:
        shared.users -= 1
        if shared.users == 0:
            del _TOKEN_SESSIONS[(lib_path, token_label)]
            with shared.lock:
                shared.session.close()


class Pkcs11Provider:
    """Master key held in a PKCS#11 token (HSM); AES-256-GCM runs inside the token.

    The key is found by label and never extracted. Wraps use the random96 scheme with
    the token's AES key directly. Providers on the same token share one logged-in
    session (see `_TokenSession`); `close` releases it. Raises `ProviderError` if the
    library, token, PIN or key is wrong.
    """

    def __init__(
        self,
        lib_path: str,
        token_label: str,
        pin: str,
        key_label: str,
        *,
        rand: RandomSource = os.urandom,
    ) -> None:
        import pkcs11
        from pkcs11.exceptions import PKCS11Error
        from pkcs11.types import DecryptMixin, EncryptMixin

        self._rand = rand
        self._key_id = _pkcs11_key_id(token_label, key_label)
        self._where = (lib_path, token_label)
        self._shared: _TokenSession | None = _acquire_token(lib_path, token_label, pin)
        try:
            with self._shared.lock:
                key = self._shared.session.get_key(
                    object_class=pkcs11.ObjectClass.SECRET_KEY,
                    key_type=pkcs11.KeyType.AES,
                    label=key_label,
                )
        except PKCS11Error as exc:
            self.close()
            raise ProviderError(f"no usable AES key {key_label!r} in token: {exc!r}") from None
        if not isinstance(key, EncryptMixin) or not isinstance(key, DecryptMixin):
            self.close()
            raise ProviderError(f"key {key_label!r} cannot encrypt and decrypt")
        self._encryptor: EncryptMixin = key
        self._decryptor: DecryptMixin = key

    @staticmethod
    def generate_key(lib_path: str, token_label: str, pin: str, key_label: str) -> None:
        """Create a non-extractable AES-256 key called `key_label` in the token.

        Raises `ProviderError` if a key with that label exists or the token refuses.
        """
        from pkcs11 import Attribute, KeyType, ObjectClass
        from pkcs11.exceptions import NoSuchKey, PKCS11Error

        shared = _acquire_token(lib_path, token_label, pin)
        try:
            with shared.lock:
                try:
                    shared.session.get_key(object_class=ObjectClass.SECRET_KEY, label=key_label)
                except NoSuchKey:
                    pass
                else:
                    raise ProviderError(f"a key labelled {key_label!r} already exists")
                shared.session.generate_key(
                    KeyType.AES,
                    256,
                    label=key_label,
                    store=True,
                    template={
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                        Attribute.ENCRYPT: True,
                        Attribute.DECRYPT: True,
                    },
                )
        except PKCS11Error as exc:
            raise ProviderError(f"cannot create key {key_label!r}: {exc!r}") from None
        finally:
            _release_token(lib_path, token_label, shared)

    def _lock(self) -> threading.Lock:
        if self._shared is None:
            raise ProviderError("this PKCS#11 provider is closed")
        return self._shared.lock

    @property
    def key_id(self) -> bytes:
        """Id derived from the token and key labels."""
        return self._key_id

    def wrap(self, plaintext_key: bytes, aad: bytes) -> bytes:
        """Wrap inside the token with AES-GCM; header and `aad` are the GCM AAD."""
        from pkcs11 import Mechanism
        from pkcs11.exceptions import PKCS11Error
        from pkcs11.mechanisms import GCMParams

        nonce = self._rand(GCM_NONCE_SIZE)
        header = build_header(
            MAGIC_WRAPPED_KEY, get_suite("aes-256-gcm"), SCHEME_RANDOM96, self._key_id, nonce
        )
        try:
            with self._lock():
                body = self._encryptor.encrypt(
                    plaintext_key,
                    mechanism=Mechanism.AES_GCM,
                    mechanism_param=GCMParams(nonce, header + aad, 128),
                )
        except PKCS11Error as exc:
            raise ProviderError(f"HSM refused to wrap: {exc!r}") from None
        if not isinstance(body, bytes):  # only streaming (iterable) input yields an iterator
            raise ProviderError("unexpected streaming result from the PKCS#11 library")
        return header + body

    def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        """Unwrap inside the token; `KeyNotAvailable` for another key's blob, otherwise
        `DecryptionError` for every failure."""
        from pkcs11 import Mechanism
        from pkcs11.exceptions import PKCS11Error
        from pkcs11.mechanisms import GCMParams

        suite, scheme, key_id, nonce, header_len = parse_header(MAGIC_WRAPPED_KEY, blob)
        if key_id != self._key_id:
            raise KeyNotAvailable("blob was wrapped by a master key this provider does not hold")
        if suite.name != "aes-256-gcm" or scheme != SCHEME_RANDOM96:
            raise DecryptionError()
        header = bytes(blob[:header_len])
        try:
            with self._lock():
                plain = self._decryptor.decrypt(
                    bytes(blob[header_len:]),
                    mechanism=Mechanism.AES_GCM,
                    mechanism_param=GCMParams(nonce, header + aad, 128),
                )
        except PKCS11Error:
            raise DecryptionError() from None
        if not isinstance(plain, bytes):  # only streaming (iterable) input yields an iterator
            raise DecryptionError()
        return plain

    def close(self) -> None:
        """Release the shared session (the last provider on a token logs it out).

        Idempotent; after it, `wrap` and `unwrap` raise `ProviderError`.
        """
        shared, self._shared = self._shared, None
        if shared is not None:
            _release_token(*self._where, shared)

    def __enter__(self) -> Pkcs11Provider:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Pkcs11Provider(key_id={self._key_id.hex()!r})"


class Keyring:
    """Several master-key versions behind one provider: the first wraps, any unwraps.

    `unwrap` picks the member whose `key_id` matches the blob header. Use during a
    rotation: ``Keyring([new, old])`` reads everything while `rewrap` moves blobs.
    Raises `ValueError` if empty or if two members share a key id.
    """

    def __init__(self, providers: Sequence[MasterKeyProvider]) -> None:
        if not providers:
            raise ValueError("a keyring needs at least one provider")
        by_id: dict[bytes, MasterKeyProvider] = {}
        for p in providers:
            if p.key_id in by_id:
                raise ValueError(f"two providers share key id {p.key_id.hex()}")
            by_id[p.key_id] = p
        self._primary = providers[0]
        self._by_id = by_id

    @property
    def key_id(self) -> bytes:
        """Id of the primary (wrapping) key."""
        return self._primary.key_id

    @property
    def key_ids(self) -> tuple[bytes, ...]:
        """Ids of every key the ring can unwrap with, primary first."""
        return tuple(self._by_id)

    def wrap(self, plaintext_key: bytes, aad: bytes) -> bytes:
        """Wrap with the primary provider."""
        return self._primary.wrap(plaintext_key, aad)

    def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        """Unwrap with the member named in the blob; `KeyNotAvailable` if none."""
        member = self._by_id.get(wrapped_key_id(blob))
        if member is None:
            raise KeyNotAvailable("blob was wrapped by a master key not in this keyring")
        return member.unwrap(blob, aad)


def rewrap(old: MasterKeyProvider, new: MasterKeyProvider, blob: bytes, aad: bytes) -> bytes:
    """Re-wrap `blob` from `old` (a provider or keyring) to `new`, same `aad`.

    The key inside is unchanged, so nothing sealed under it needs re-encrypting.
    Raises what `old.unwrap` raises (`DecryptionError`, `KeyNotAvailable`).
    """
    return new.wrap(old.unwrap(blob, aad), aad)


def needs_rewrap(blob: bytes, provider: MasterKeyProvider) -> bool:
    """True if `blob` is not wrapped by `provider`'s current key (rotation backlog)."""
    return wrapped_key_id(blob) != provider.key_id


def _opt_str(options: dict[str, Any], name: str, default: str | None = None) -> str:
    value = options.pop(name, default)
    if not isinstance(value, str | os.PathLike) or not str(value):
        raise ValueError(f"option {name!r} is required and must be a string")
    return str(value)


def _opt_list(options: dict[str, Any], name: str) -> list[str]:
    value = options.pop(name, ())
    if isinstance(value, str):
        # Comma-separated, as it arrives from a BAOMI_… environment variable.
        return [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, Iterable):
        raise ValueError(f"option {name!r} must be a list or a comma-separated string")
    return [str(v) for v in value]


def _ring(providers: list[MasterKeyProvider]) -> MasterKeyProvider:
    return providers[0] if len(providers) == 1 else Keyring(providers)


_KINDS: Final = ("keyfile", "passphrase", "pkcs11")


def _no_extra(kind: str, opts: dict[str, Any]) -> None:
    # Checked before any key is loaded, so a typo never half-configures a provider.
    if opts:
        raise ValueError(f"unknown options for {kind} provider: {sorted(opts)}")


def provider_from_config(kind: str, **options: Any) -> MasterKeyProvider:
    """Build the configured master-key provider (a `Keyring` if old keys are listed).

    - ``keyfile``: ``path``, ``suite`` (default aes-256-gcm), ``previous_paths``.
    - ``passphrase``: ``path`` (parameters file), ``passphrase``, ``previous_paths``
      (parameter files of older passphrase keys unlocked with the same passphrase).
    - ``pkcs11``: ``lib_path``, ``token_label``, ``pin``, ``key_label``,
      ``previous_key_labels``.

    The first key wraps; previous ones only unwrap until `rewrap` has moved every
    blob. Raises `ValueError` for an unknown kind or option, `KeyFileError`,
    `WrongPassphrase` or `ProviderError` if the key cannot be loaded.
    """
    opts = dict(options)
    if kind == "keyfile":
        suite = get_suite(_opt_str(opts, "suite", DEFAULT_SUITE)).name
        paths = [_opt_str(opts, "path"), *_opt_list(opts, "previous_paths")]
        _no_extra(kind, opts)
        providers: list[MasterKeyProvider] = [
            KeyFileProvider.load(p, suite=suite) for p in paths
        ]
    elif kind == "passphrase":
        passphrase = _opt_str(opts, "passphrase")
        paths = [_opt_str(opts, "path"), *_opt_list(opts, "previous_paths")]
        _no_extra(kind, opts)
        providers = [PassphraseProvider.load(p, passphrase) for p in paths]
    elif kind == "pkcs11":
        lib_path = _opt_str(opts, "lib_path")
        token_label = _opt_str(opts, "token_label")
        pin = _opt_str(opts, "pin")
        labels = [_opt_str(opts, "key_label"), *_opt_list(opts, "previous_key_labels")]
        _no_extra(kind, opts)
        providers = [Pkcs11Provider(lib_path, token_label, pin, label) for label in labels]
    else:
        raise ValueError(f"unknown master key provider {kind!r}; expected one of {_KINDS}")
    return _ring(providers)
